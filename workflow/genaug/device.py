"""Pick the device and the CPU thread count for a job."""

from __future__ import annotations

import contextlib
import platform

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


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux)."""
    with contextlib.suppress(OSError, StopIteration):
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    return platform.processor() or platform.machine()


def name(device: torch.device) -> str:
    """What computed a result: the GPU's name, or the CPU's. The same seed gives the same number on one
    machine but not always across machines (floating-point kernels differ), so results record it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()
