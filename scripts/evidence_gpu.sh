#!/usr/bin/env bash
# The evidence grid (workflow/configs/evidence.yaml) on one GPU, many jobs sharing it (issue 21): every
# generator and classifier job runs on the card (device: cuda), JOBS_PER_GPU of the GPU-declaring jobs at
# once (default 8: the grid's networks are small, one job leaves the card mostly idle), the other jobs on the
# CPU cores. Writes results/<dataset>/ under WORKDIR as the CPU run does, and the wall time, the card, torch's
# version, the config files and snakemake's exit status to WORKDIR/evidence_gpu_wall.json.
#   bash scripts/evidence_gpu.sh [WORKDIR]          # from anywhere; WORKDIR defaults to the current folder
#   bash scripts/evidence_gpu.sh WORKDIR workflow/configs/evidence_imbalanced.yaml   # the imbalanced half
# Config files after WORKDIR are layered over evidence.yaml, in order; the wall time then goes to
# evidence_gpu_wall-<the last file's name>.json, so the two halves' records sit side by side.
# Resumable: rerun the same command after a kill and finished jobs are kept.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
workdir=${1:-.}
[ $# -gt 0 ] && shift
extras=()
for f in "$@"; do
  [ -f "$f" ] || { echo "evidence_gpu.sh: no config file '$f': give YAML files after WORKDIR, e.g." \
                        "workflow/configs/evidence_imbalanced.yaml" >&2; exit 2; }
  extras+=("$(realpath "$f")")
done
[ -e "$workdir" ] && [ ! -d "$workdir" ] && {
  echo "evidence_gpu.sh: WORKDIR '$workdir' is a file: the first argument is the folder to run in," \
       "config files come after it" >&2; exit 2; }
wall_name=evidence_gpu_wall${extras:+-$(basename "${extras[-1]}" .yaml)}.json
jobs=${JOBS_PER_GPU:-8}
cores=${CORES:-$(nproc)}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || {
  echo "evidence_gpu.sh: no nvidia-smi: this script is for a machine with a CUDA GPU (the CPU run is" \
       "'snakemake --cores all --configfile workflow/configs/evidence.yaml')" >&2; exit 2; }
mkdir -p "$workdir" || exit 2
start=$(date +%s)
# config.yaml named here too: the Snakefile's own `configfile:` is read relative to WORKDIR
snakemake -s "$repo/Snakefile" --directory "$workdir" --cores "$cores" --resources gpu="$jobs" \
  --configfile "$repo/config.yaml" "$repo/workflow/configs/evidence.yaml" "${extras[@]}" --config device=cuda \
  --keep-going --rerun-incomplete
rc=$?
end=$(date +%s)
python3 - "$workdir" "$wall_name" "$start" "$end" "$jobs" "$cores" "$rc" "${extras[@]}" <<'PY'
import json, os, subprocess, sys, time
import torch
workdir, wall_name = sys.argv[1:3]
start, end, jobs, cores, rc = map(int, sys.argv[3:8])
configfiles = ["config.yaml", "workflow/configs/evidence.yaml", *sys.argv[8:]]
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
out = {"wall_seconds": end - start, "snakemake_exit": rc, "gpu": gpu, "jobs_per_gpu": jobs, "cores": cores,
       "torch": torch.__version__, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start)),
       "configfiles": configfiles}
path = os.path.join(workdir, wall_name)
with open(path + ".tmp", "w") as f:
    json.dump(out, f, indent=1)
os.replace(path + ".tmp", path)
print(out)
PY
exit $rc
