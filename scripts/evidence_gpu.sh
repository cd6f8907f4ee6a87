#!/usr/bin/env bash
# The evidence grid (workflow/configs/evidence.yaml) on one GPU, many jobs sharing it (issue 21): every
# generator and classifier job runs on the card (device: cuda), JOBS_PER_GPU of the GPU-declaring jobs at
# once (default 8: the grid's networks are small, one job leaves the card mostly idle), the other jobs on the
# CPU cores. Writes results/<dataset>/ under WORKDIR as the CPU run does, and the wall time, the card, torch's
# version and snakemake's exit status to WORKDIR/evidence_gpu_wall.json.
#   bash scripts/evidence_gpu.sh [WORKDIR]          # from anywhere; WORKDIR defaults to the current folder
# Resumable: rerun the same command after a kill and finished jobs are kept.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
workdir=${1:-.}
jobs=${JOBS_PER_GPU:-8}
cores=${CORES:-$(nproc)}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || {
  echo "evidence_gpu.sh: no nvidia-smi: this script is for a machine with a CUDA GPU (the CPU run is" \
       "'snakemake --cores all --configfile workflow/configs/evidence.yaml')" >&2; exit 2; }
mkdir -p "$workdir" || exit 2
start=$(date +%s)
# config.yaml named here too: the Snakefile's own `configfile:` is read relative to WORKDIR
snakemake -s "$repo/Snakefile" --directory "$workdir" --cores "$cores" --resources gpu="$jobs" \
  --configfile "$repo/config.yaml" "$repo/workflow/configs/evidence.yaml" --config device=cuda \
  --keep-going --rerun-incomplete
rc=$?
end=$(date +%s)
python3 - "$workdir" "$start" "$end" "$jobs" "$cores" "$rc" <<'PY'
import json, os, subprocess, sys, time
import torch
workdir, start, end, jobs, cores, rc = sys.argv[1], *map(int, sys.argv[2:])
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
out = {"wall_seconds": end - start, "snakemake_exit": rc, "gpu": gpu, "jobs_per_gpu": jobs, "cores": cores,
       "torch": torch.__version__, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start))}
path = os.path.join(workdir, "evidence_gpu_wall.json")
with open(path + ".tmp", "w") as f:
    json.dump(out, f, indent=1)
os.replace(path + ".tmp", path)
print(out)
PY
exit $rc
