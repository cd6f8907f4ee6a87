"""The environment every job inherits from the Snakefile: which `genaug` runs, what it imports, run-only settings.

Kept out of the Snakefile so that it is tested like the rest of the package (and `snakemake --lint`, which
reads `os.environ[...]` in a Snakefile as an undeclared input, has nothing to say). No torch import.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import GenaugError

# Settings that change how a job runs but not what it computes: they reach the jobs through the environment,
# not through params, because Snakemake reruns a job whose params changed and a new device or snapshot
# interval must not rerun a grid (config.RUN_ONLY_KEYS lists them; the report's params leave them out).
RUN_ONLY_ENV = {
    "device": "GENAUG_DEVICE",
    "snapshot_every": "GENAUG_SNAPSHOT_EVERY",
    "tensorboard": "GENAUG_TENSORBOARD",  # genaug/board.py
}


def job_path(path: str, workflow_dir: Path, own_bin: Path, conda: bool) -> str:
    """PATH for every job, so that each finds the right `genaug`.

    Without conda: the `genaug` installed beside this snakemake first (its virtualenv need not be active),
    then the caller's PATH, then workflow/bin's launcher, which runs the package from workflow/ with the job's
    python. Under `--sdm conda` the launcher comes first: Snakemake puts the env's bin/ before it, so the
    launcher's `python3` is the env's and the job runs under the env, not under the venv that started
    snakemake (which it did before: the env was built and then bypassed)."""
    launcher = str(workflow_dir / "bin")
    if conda:
        parts = [launcher, path]
    else:
        parts = [str(own_bin)] if (own_bin / "genaug").exists() else []
        parts += [path, launcher]
    seen, out = set(), []
    for p in os.pathsep.join(filter(None, parts)).split(os.pathsep):
        if p and p not in seen:
            seen.add(p)
            out.append(p)
    return os.pathsep.join(out)


def python_path(current: str | None, workflow_dir: Path, user_paths: list[str]) -> str:
    """PYTHONPATH for every job: a user's generator folders, then the package, then what was there."""
    parts = [*user_paths, str(workflow_dir)]
    parts += [p for p in (current or "").split(os.pathsep) if p and p not in parts]
    return os.pathsep.join(parts)


def user_paths(config: dict) -> list[str]:
    """The config's `python_path` folders, resolved; one clear error for a folder that is not there."""
    out = [str(Path(p).resolve()) for p in config.get("python_path") or []]
    for p in out:
        if not Path(p).is_dir():
            raise GenaugError(f"python_path: {p} is not a folder; give the folder that holds your generator module")
    return out


def setup(workflow_dir: Path, own_bin: Path, conda: bool, config: dict | None = None) -> list[str]:
    """Set this process's (and so every job's) PATH and PYTHONPATH, and with `config` its run-only settings
    and the user's generator folders; returns those folders. Job-side snakemake processes (SLURM) parse the
    Snakefile too, so they set the same values."""
    os.environ["PATH"] = job_path(os.environ.get("PATH", ""), workflow_dir, own_bin, conda)
    folders = user_paths(config) if config is not None else []
    os.environ["PYTHONPATH"] = python_path(os.environ.get("PYTHONPATH"), workflow_dir, folders)
    if config is not None:
        for key, var in RUN_ONLY_ENV.items():
            os.environ[var] = str(config[key])
    return folders
