"""Atomic output files: every result is written to a temp file beside it, then moved into place.

A job killed half-way therefore never leaves a truncated output that a later run would trust.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import socket
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

# What np.load raises on a missing, torn or foreign .npz file.
NPZ_ERRORS = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)

_UMASK = os.umask(0)
os.umask(_UMASK)


_HOST = socket.gethostname().replace(".", "_").replace("-", "_") or "host"
_OTHER_HOST_STALE_SECONDS = 24 * 3600  # another machine's temp file (shared filesystem): stale after a day


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path in the target's folder; move it onto `path` only if the block succeeds.

    The temp name carries this host and pid, so clearing a killed write's leftovers never touches the temp
    file of a process still writing; the temp is removed on every way out of the block.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    # Keep the real suffix last: numpy, matplotlib and PIL choose formats by it.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=f".tmp{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs get the usual mode
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _writer_alive(temp: Path, path: Path) -> bool:
    """Whether the process that named this temp file may still be writing it."""
    tag = temp.name[len(path.name) + 2:].split(".", 1)[0]  # .<name>.<host>-<pid>.<random>.tmp<suffix>
    host, _, pid = tag.rpartition("-")
    if not pid.isdigit() or not host:
        return False  # a temp from before names carried their writer
    if host != _HOST:
        try:
            return time.time() - temp.stat().st_mtime < _OTHER_HOST_STALE_SECONDS
        except OSError:
            return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> None:
    """Delete the temp files that killed writes of `path` left; a live writer's temp file is kept."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp*"):
        if not _writer_alive(stale, path):
            stale.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj) -> None:
    """Write `obj` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically, in UTF-8 whatever the locale (the report declares it; class names may need it)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(path: str | os.PathLike, df) -> None:
    """Write a pandas DataFrame as CSV (no index), atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def save_npz(path: str | os.PathLike, compress: bool = True, **arrays) -> None:
    """Save arrays to an .npz file atomically."""
    with atomic_path(path) as tmp:
        (np.savez_compressed if compress else np.savez)(tmp, **arrays)


CHECKSUM_KEY = "_sha256"  # of a torch file's contents, stored in it (save_torch, load_torch)


class CorruptFile(ValueError):
    """A torch file whose contents no longer match the checksum written with them."""


def torch_checksum(obj) -> str:
    """sha256 of a checkpoint's contents: every tensor's dtype, shape and bytes, and the repr of everything
    else, walked in a fixed order (dict keys sorted), so the same contents always give the same digest."""
    import torch

    h = hashlib.sha256()

    def walk(o):
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(o, dict):
            h.update(b"{")
            for k in sorted(o, key=repr):
                h.update(repr(k).encode())
                walk(o[k])
            h.update(b"}")
        elif isinstance(o, (list, tuple)):
            h.update(b"[")
            for v in o:
                walk(v)
            h.update(b"]")
        else:
            h.update(repr(o).encode())

    walk(obj)
    return h.hexdigest()


def save_torch(path: str | os.PathLike, obj: dict) -> None:
    """torch.save of a dict, atomically, with the checksum of its contents (load_torch checks it)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save({**obj, CHECKSUM_KEY: torch_checksum(obj)}, tmp)


def load_torch(path: str | os.PathLike, map_location="cpu") -> dict:
    """torch.load (weights only) of a file save_torch wrote; raises CorruptFile when the contents changed since
    (flipped bits in a weight load without complaint otherwise). Files from before checksums load unchecked."""
    import torch

    obj = torch.load(path, map_location=map_location, weights_only=True)
    if isinstance(obj, dict) and CHECKSUM_KEY in obj:
        stored = obj.pop(CHECKSUM_KEY)
        if torch_checksum(obj) != stored:
            raise CorruptFile(f"{path}: its contents do not match the checksum written with them (the file was "
                              "damaged after it was saved)")
    return obj


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
