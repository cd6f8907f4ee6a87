#!/usr/bin/env bash
# The evidence grid (workflow/configs/evidence.yaml) on one GPU, many jobs sharing it (issue 21): every
# generator and classifier job runs on the card (device: cuda), JOBS_PER_GPU of the GPU-declaring jobs at
# once (default 8: the grid's networks are small, one job leaves the card mostly idle), the other jobs on the
# CPU cores. Writes results/<dataset>/ as the CPU run does, and the wall time to evidence_gpu_wall.json.
#   bash scripts/evidence_gpu.sh [WORKDIR]          # from the repository root; WORKDIR defaults to .
# Resumable: rerun the same command after a kill and finished jobs are kept.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
workdir=${1:-.}
jobs=${JOBS_PER_GPU:-8}
cores=${CORES:-$(nproc)}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || {
  echo "evidence_gpu.sh: no nvidia-smi: this script is for a machine with a CUDA GPU (the CPU run is" \
       "'snakemake --cores all --configfile workflow/configs/evidence.yaml')" >&2; exit 2; }
start=$(date +%s)
snakemake -s "$repo/Snakefile" --directory "$workdir" --cores "$cores" --resources gpu="$jobs" \
  --configfile "$repo/workflow/configs/evidence.yaml" --config device=cuda --keep-going --rerun-incomplete
end=$(date +%s)
python3 - "$workdir" "$start" "$end" "$jobs" "$cores" <<'PY'
import json, subprocess, sys
workdir, start, end, jobs, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
out = {"wall_seconds": end - start, "gpu": gpu, "jobs_per_gpu": int(jobs), "cores": int(cores)}
json.dump(out, open(f"{workdir}/evidence_gpu_wall.json", "w"), indent=1)
print(out)
PY
