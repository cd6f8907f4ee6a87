"""Pick the device and the CPU thread count for a job."""

from __future__ import annotations

import torch

from .errors import GenaugError


def setup(device: str = "auto", threads: int = 1) -> torch.device:
    """Resolve `auto` to CUDA when present, else CPU, and confine torch to the job's threads.

    Snakemake gives each job `threads` cores; SLURM's task/none does not enforce that, so
    torch must be told, or two jobs on one node fight over every core.
    """
    torch.set_num_threads(max(1, int(threads)))
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GenaugError(f"device {device!r} requested but CUDA is not available; set device: auto or cpu")
    return torch.device(device)
