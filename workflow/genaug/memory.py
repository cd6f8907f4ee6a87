"""A job stays inside the memory its rule asked for (resources.mem_mb), or stops with the setting to change.

Nothing else bounds a training job's memory: `batch_size: 100000` grew one job to 23 GB until the kernel's
out-of-memory killer ended it (and, on a shared node, other users' jobs). A job's peak memory depends on the
family, the batch, the image size and the device, so it is measured, not predicted, twice:
- before the first step (`check_step`): a training step on a copy of the model, at the real batch when it
  is small and at two small batches extrapolated linearly when it is large, gives the step's peak; with the
  memory already held and the optimizer's state, a job that would not fit is refused before it trains;
- while it runs (`guard`): a watcher thread reads the process's resident memory every 20 ms and ends the job
  with one clear error as soon as it passes the limit, long before the machine runs out (the backstop for
  whatever the estimate misses: sampling, metrics, a family whose memory is not linear in the batch).
Outputs are written atomically, so nothing half-written is left.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
import time
from typing import Callable, Iterable

import torch

from .errors import GenaugError

_LIMIT: dict | None = None  # the guarded job's limit, setting and rule (set by `guard`)
DIRECT_BATCH = 128  # a batch up to this is measured as it is; a larger one from two probes, extrapolated
PROBE_BATCHES = (32, 128)


def resident_mb() -> float:
    """This process's resident memory in MiB (Linux /proc; 0 where it cannot be read)."""
    return _status_mb("VmRSS") or 0.0


def guard(limit_mb: float, setting: str, rule: str, log=sys.stderr, poll_seconds: float = 0.02,
          exit_status: int = 2) -> threading.Thread | None:
    """Watch resident memory; past `limit_mb`, print which setting to lower and end the process.

    `setting` names the config field that sizes the job's memory (e.g. `models.vae.batch_size = 100000`),
    `rule` the Snakemake rule whose mem_mb is the limit. No limit (0): no watcher.
    """
    global _LIMIT
    if not limit_mb or limit_mb <= 0:
        _LIMIT = None
        return None
    _LIMIT = {"limit_mb": float(limit_mb), "setting": setting, "rule": rule}

    def watch():
        while True:
            rss = resident_mb()
            if rss > limit_mb:
                message = (f"error: {setting}: this job's memory passed the {limit_mb:.0f} MB its rule asks for "
                           f"({rss:.0f} MB resident) and it was stopped before the machine ran out; lower that "
                           f"setting, or give the rule more memory (snakemake --set-resources {rule}:mem_mb=N)")
                for stream in {log, sys.stderr}:
                    try:
                        print(f"genaug {rule}: {message}", file=stream, flush=True)
                    except (OSError, ValueError):
                        pass
                os._exit(exit_status)
            time.sleep(poll_seconds)

    thread = threading.Thread(target=watch, name="memory-guard", daemon=True)
    thread.start()
    return thread


def limit() -> dict | None:
    """The guarded job's limit ({limit_mb, setting, rule}), or None when nothing guards this process."""
    return _LIMIT


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's malloc_trim, or None (looked up once: find_library runs ldconfig in a subprocess)."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


def _trim() -> None:
    """Hand freed heap memory back to the system (glibc), so resident memory counts what is live."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS now, VmHWM the peak so far) in MiB; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak() -> bool:
    """Restart the kernel's peak-resident counter (VmHWM) at the current resident size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def step_peak_mb(run_step: Callable[[int], None], batch: int) -> tuple[float, float] | None:
    """(resident memory live before, and what one `run_step(batch)` adds at its peak) in MiB (None: this
    system cannot measure it)."""
    _trim()
    if not _reset_peak():
        return None
    before = _status_mb("VmRSS")
    run_step(batch)
    peak = _status_mb("VmHWM")
    return None if before is None or peak is None else (before, max(0.0, peak - before))


def estimate_mb(run_step: Callable[[int], None], batch_size: int) -> dict | None:
    """The peak memory of one training step at `batch_size`: measured there when the batch is at most
    DIRECT_BATCH, else measured at PROBE_BATCHES and extrapolated linearly (activations grow with the batch).
    `run_step(b)` must leave the job's model, data and random streams as it found them."""
    with torch.random.fork_rng(devices=[]):
        # One-time set-up is not the batch's memory, but it is the job's: a first optimizer imports torch's
        # compiler stack (about 900 modules, 150 MB resident), a first step its kernels and thread pools.
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        run_step(min(2, batch_size))
        sizes = (batch_size,) if batch_size <= DIRECT_BATCH else PROBE_BATCHES
        measured = [step_peak_mb(run_step, b) for b in sizes]
    if any(m is None for m in measured):
        return None
    held, peaks = measured[0][0], [m[1] for m in measured]
    if len(sizes) == 1:
        return {"held_mb": held, "step_mb": peaks[0], "measured_at": list(sizes)}
    per_image = max(0.0, (peaks[1] - peaks[0]) / (sizes[1] - sizes[0]))
    return {"held_mb": held, "step_mb": peaks[1] + per_image * (batch_size - sizes[1]), "measured_at": list(sizes),
            "per_image_mb": per_image}


def check_step(run_step: Callable[[int], None], batch_size: int, *, params: Iterable[torch.Tensor],
               state_copies: int, device, what: str, log=sys.stderr) -> dict | None:
    """Before a guarded CPU job's first step: refuse it, naming the setting and the estimate, when the memory
    it holds, its optimizer state (`state_copies` copies of `params`: Adam's two moments, averages, kept best
    weights) and one step at `batch_size` would pass its rule's mem_mb. Unguarded jobs and GPU jobs (whose
    batch lives in device memory, which mem_mb does not bound) are not probed. Returns the estimate."""
    active = _LIMIT
    if active is None or torch.device(device).type != "cpu":
        return None
    step = estimate_mb(run_step, batch_size)
    if step is None:
        print(f"{what}: memory: this system cannot measure a step's peak; the {active['limit_mb']:.0f} MB "
              f"limit is watched while the job runs", file=log, flush=True)
        return None
    held = step["held_mb"]  # after a first small step's lazy set-up
    state = state_copies * sum(p.numel() * p.element_size() for p in params) / 2**20
    total = held + state + step["step_mb"]
    how = ("measured" if len(step["measured_at"]) == 1 else
           f"extrapolated from batches {step['measured_at'][0]} and {step['measured_at'][1]}")
    parts = f"{held:.0f} MB held, {state:.0f} MB optimizer state, {step['step_mb']:.0f} MB for the step, {how}"
    print(f"{what}: memory: about {total:.0f} MB at batch {batch_size} ({parts}); limit "
          f"{active['limit_mb']:.0f} MB", file=log, flush=True)
    if total > active["limit_mb"]:
        raise GenaugError(
            f"{active['setting']}: a training step at batch {batch_size} needs about {total:.0f} MB ({parts}), "
            f"more than the {active['limit_mb']:.0f} MB its rule asks for; it was refused before training. Lower "
            f"that setting, or give the rule more memory (snakemake --set-resources {active['rule']}:mem_mb=N)")
    return {**step, "state_mb": state, "total_mb": total}
