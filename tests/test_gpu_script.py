"""scripts/evidence_gpu.sh, the GPU run of the evidence grid, without a GPU: stand-ins for nvidia-smi and
snakemake record what the script asks for, and the script must pass on snakemake's exit status."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "evidence_gpu.sh"


def _stand_in(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _run(tmp_path: Path, snakemake_rc: int, with_gpu: bool = True, extras: tuple = ()):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if with_gpu:
        _stand_in(bin_dir, "nvidia-smi", 'echo "Stand-in GPU, 1000 MiB"\n')
    _stand_in(bin_dir, "snakemake", f'printf "%s\\n" "$@" > "{tmp_path}/args"\nexit {snakemake_rc}\n')
    # python3 (with torch) from this interpreter's folder; no system nvidia-smi can leak in
    path = f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"
    workdir = tmp_path / "work"
    proc = subprocess.run(["bash", str(SCRIPT), str(workdir), *extras], capture_output=True, text=True,
                          env={**os.environ, "PATH": path, "JOBS_PER_GPU": "5", "CORES": "3"}, cwd=tmp_path)
    return proc, workdir


def test_the_gpu_script_runs_the_grid_on_cuda_from_any_folder_and_records_its_wall_time(tmp_path):
    proc, workdir = _run(tmp_path, snakemake_rc=0)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "args").read_text().split("\n")
    assert args[args.index("-s") + 1] == str(ROOT / "Snakefile")
    assert args[args.index("--directory") + 1] == str(workdir)
    # the Snakefile reads config.yaml relative to the working folder, so the script names it
    at = args.index("--configfile")
    assert args[at + 1:at + 3] == [str(ROOT / "config.yaml"), str(ROOT / "workflow/configs/evidence.yaml")]
    assert args[args.index("--config") + 1] == "device=cuda"
    assert args[args.index("--resources") + 1] == "gpu=5" and args[args.index("--cores") + 1] == "3"
    wall = json.loads((workdir / "evidence_gpu_wall.json").read_text())
    assert wall["snakemake_exit"] == 0 and wall["gpu"] == "Stand-in GPU, 1000 MiB"
    assert wall["jobs_per_gpu"] == 5 and wall["cores"] == 3 and wall["wall_seconds"] >= 0


def test_a_failed_grid_is_recorded_and_fails_the_script(tmp_path):
    proc, workdir = _run(tmp_path, snakemake_rc=3)
    assert proc.returncode == 3
    assert json.loads((workdir / "evidence_gpu_wall.json").read_text())["snakemake_exit"] == 3


def test_without_a_gpu_the_script_refuses_before_running_anything(tmp_path):
    proc, _ = _run(tmp_path, snakemake_rc=0, with_gpu=False)
    assert proc.returncode == 2 and "no nvidia-smi" in proc.stderr
    assert not (tmp_path / "args").exists()


def test_config_files_after_the_workdir_layer_over_the_grid_and_name_their_own_wall_record(tmp_path):
    half = ROOT / "workflow" / "configs" / "evidence_imbalanced.yaml"
    proc, workdir = _run(tmp_path, snakemake_rc=0, extras=(os.path.relpath(half, tmp_path),))
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "args").read_text().split("\n")
    at = args.index("--configfile")
    assert args[at + 1:at + 4] == [str(ROOT / "config.yaml"), str(ROOT / "workflow/configs/evidence.yaml"), str(half)]
    wall = json.loads((workdir / "evidence_gpu_wall-evidence_imbalanced.json").read_text())
    assert wall["configfiles"][-1] == str(half) and wall["snakemake_exit"] == 0
    assert not (workdir / "evidence_gpu_wall.json").exists()  # the balanced half's record is not overwritten


def test_a_missing_config_file_is_named_and_nothing_runs(tmp_path):
    proc, workdir = _run(tmp_path, snakemake_rc=0, extras=("no_such_half.yaml",))
    assert proc.returncode == 2 and "no_such_half.yaml" in proc.stderr
    assert not (tmp_path / "args").exists() and not workdir.exists()


def test_a_config_file_given_as_the_workdir_is_refused(tmp_path):
    config = tmp_path / "half.yaml"
    config.write_text("seeds: [0]\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "nvidia-smi", 'echo "Stand-in GPU, 1000 MiB"\n')
    proc = subprocess.run(["bash", str(SCRIPT), str(config)], capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}, cwd=tmp_path)
    assert proc.returncode == 2 and "is a file" in proc.stderr
