"""Atomic output files: every result is written to a temp file beside it, then moved into place.

A job killed half-way therefore never leaves a truncated output that a later run would trust.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

# What np.load raises on a missing, torn or foreign .npz file.
NPZ_ERRORS = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path in the target's folder; move it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    # Keep the real suffix last: numpy, matplotlib and PIL choose formats by it.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs get the usual mode
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def remove_stale_temps(path: str | os.PathLike) -> None:
    """Delete temp files that a write of `path` killed mid-way left; one job writes a target at a time."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp*"):
        stale.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj) -> None:
    """Write `obj` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | os.PathLike, df) -> None:
    """Write a pandas DataFrame as CSV (no index), atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def save_npz(path: str | os.PathLike, compress: bool = True, **arrays) -> None:
    """Save arrays to an .npz file atomically."""
    with atomic_path(path) as tmp:
        (np.savez_compressed if compress else np.savez)(tmp, **arrays)


def save_torch(path: str | os.PathLike, obj) -> None:
    """torch.save, atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def read_json(path: str | os.PathLike):
    with open(path) as f:
        return json.load(f)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
