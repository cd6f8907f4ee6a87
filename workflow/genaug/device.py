"""Pick the device and the CPU thread count for a job."""

from __future__ import annotations

import contextlib
import platform

import torch

from .errors import GenaugError

PRECISIONS = ("fp32", "bf16")  # the arithmetic a training step runs in
PRECISION_SETTINGS = (*PRECISIONS, "auto")  # what a config may ask for: auto is bf16 where native, else fp32


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


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 in hardware: a GPU that supports it, or a CPU with avx512_bf16 or AMX.
    Elsewhere torch emulates bf16 and autocast makes training several times slower, not faster (cddpm about
    4.5x slower on a Xeon without either, docs/measured/2026-12-06-precision-auto.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu's own (x86); absent: no
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def resolve_precision(precision: str, device: torch.device, log=None) -> str:
    """A `precision` setting as a job on `device` runs it: `auto` is bf16 where the device computes it natively,
    else fp32; fp32 and bf16 are kept as asked, and bf16 asked of a device that emulates it is warned of in `log`."""
    if precision == "bf16" and log is not None and not native_bf16(device):
        print(f"warning: precision bf16 on {name(device)}, which has no native bfloat16 (no avx512_bf16 or "
              "AMX): torch emulates it, several times slower than fp32 (docs/measured/2026-12-07-levers-avx2.md); "
              "set precision: auto to train in bf16 only where that is faster", file=log, flush=True)
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32"
