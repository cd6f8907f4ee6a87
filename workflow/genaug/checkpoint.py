"""Resumable training: periodic snapshots of everything a training loop needs to continue exactly.

A snapshot holds the weights, the optimizer, any EMA, every RNG state and the step. It lives at a
path that is not a declared Snakemake output (Snakemake deletes those before a job runs), is
written atomically, and carries a fingerprint of the job (spec, seed, training data), so a snapshot
left by another configuration is set aside instead of resumed. On CPU a resumed run ends with
the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import time
from pathlib import Path

import torch

from .io import CorruptFile, load_torch, remove_stale_temps, save_torch


def fingerprint(*parts) -> str:
    """A short hash of JSON-able values and tensors: what makes two training jobs the same job."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            h.update(part.detach().cpu().contiguous().numpy().tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def rng_state(*generators: torch.Generator) -> dict:
    """The global torch RNGs (CPU and every CUDA device) and the given generators' states."""
    state = {"cpu": torch.get_rng_state(), "generators": [g.get_state() for g in generators]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, *generators: torch.Generator) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for g, s in zip(generators, state["generators"], strict=True):
        g.set_state(s)


# The layout of a snapshot; a snapshot of another layout (an older genaug's) is not resumed.
SNAPSHOT_FORMAT = 3


class Snapshots:
    """Where and how often one job snapshots its training, and the fingerprint that must match to resume."""

    def __init__(self, path=None, every: int = 0, job: str = "", log=sys.stderr):
        self.path = Path(path) if path else None
        self.every = int(every) if path else 0
        self.job = job
        self.log = log

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def load(self) -> dict | None:
        """The saved state to resume from, or None when there is none for this job.

        An unreadable snapshot, or one whose contents fail their checksum, is set aside (renamed .corrupt, kept
        for inspection) with a log line, and training starts over: resuming damaged weights would go unnoticed.
        """
        if self.path is None or not self.path.exists():
            return None
        try:
            state = load_torch(self.path)
            job = state["job"]
        except (CorruptFile, OSError, KeyError, TypeError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            why = (err if isinstance(err, CorruptFile) else
                   f"{self.path}: unreadable training snapshot ({type(err).__name__})")
            print(f"{why}; set aside as {aside}, training from the start", file=self.log, flush=True)
            return None
        if job != self.job:
            print(f"{self.path}: snapshot of another configuration; training from the start", file=self.log)
            return None
        if state.get("format") != SNAPSHOT_FORMAT:
            print(f"{self.path}: snapshot written by another genaug version; training from the start", file=self.log)
            return None
        print(f"resuming from the snapshot at step {state['step']} ({self.path})", file=self.log, flush=True)
        return state

    def save(self, state: dict) -> None:
        if self.path is not None:
            save_torch(self.path, {**state, "job": self.job, "format": SNAPSHOT_FORMAT})

    def clear(self) -> None:
        """Remove the snapshot once the job's outputs are written."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            remove_stale_temps(self.path)


class Resume:
    """A training loop's resumable state, kept one way for every loop (generators' and the classifier's).

    `objects` (each with state_dict / load_state_dict: weights, optimizers, averages, batch orders, the loop's
    log and its stopping rule's bookkeeping) and the random generators (the global ones always, and `rngs`) are
    restored from the job's snapshot when there is one; `step` is then the step it had finished. The training
    clock continues across a resume."""

    def __init__(self, snapshots: Snapshots | None, objects: dict, rngs: tuple[torch.Generator, ...] = ()):
        self.snapshots, self.objects, self.rngs = snapshots, objects, rngs
        state = snapshots.load() if snapshots is not None else None
        self.step, elapsed = 0, 0.0
        if state is not None:
            for key, obj in objects.items():
                obj.load_state_dict(state["objects"][key])
            set_rng_state(state["rng"], *rngs)
            self.step, elapsed = state["step"], state["elapsed"]
        self._t0 = time.perf_counter() - elapsed

    def seconds(self) -> float:
        """Training seconds so far, those before a resume included."""
        return time.perf_counter() - self._t0

    def save_if_due(self, step: int) -> None:
        """Snapshot everything at `step` when the job snapshots and the step is due."""
        if self.snapshots is not None and self.snapshots.due(step):
            self.snapshots.save({
                "step": step, "objects": {key: obj.state_dict() for key, obj in self.objects.items()},
                "rng": rng_state(*self.rngs), "elapsed": self.seconds(),
            })
