"""One process per cell, and no job outliving its Snakemake.

A `kill -9` of Snakemake leaves its jobs running (their parent shell waits on them); `snakemake --unlock;
snakemake` then started a second copy of a cell, and the two overwrote each other's snapshot and temp files.
Two guards: a training job holds an exclusive lock beside its snapshot, so a second process on the cell
refuses with the holder's pid; and every job watches the Snakemake that started it and ends itself within a
few seconds of its death (its snapshot is then resumed by the next run).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from .errors import GenaugError


@contextlib.contextmanager
def exclusive(path, what: str) -> Iterator[Path]:
    """Hold an exclusive lock on `<path>.lock` for the block, or refuse at once if another process holds it.

    flock is released by the kernel when its holder dies however it dies, so a killed job never leaves a
    lock that blocks the next run; the file itself is removed on the way out.
    """
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise GenaugError(
                f"{what} is already running ({holder} holds {lock}); two processes on one cell would overwrite each "
                "other's snapshot. Wait for it to finish, or stop it (kill <pid>) and rerun") from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and our lock: take the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, from /proc; None when it is gone (or not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19]  # after the name: state ppid ... starttime is field 22 of the line


def _is_snakemake(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(os.path.basename(a.decode(errors="replace")) in ("snakemake", "snakemake.exe") or a == b"snakemake"
               for a in argv[:3])


def snakemake_ancestor() -> tuple[int, str] | None:
    """The nearest ancestor process that is Snakemake, as (pid, start time), or None (run by hand, on SLURM's
    node without a local Snakemake parent, or not on Linux)."""
    pid = os.getppid()
    for _ in range(32):
        if pid <= 1:
            return None
        info = _stat(pid)
        if info is None:
            return None
        if _is_snakemake(pid):
            return pid, info[1]
        pid = info[0]
    return None


def die_with_snakemake(poll_seconds: float = 2.0, log=sys.stderr) -> threading.Thread | None:
    """End this process (SIGTERM to itself) once the Snakemake that started it is gone.

    Polls its pid and start time, so a recycled pid is not mistaken for it. Returns the watching thread, or
    None when no Snakemake started this process.
    """
    parent = snakemake_ancestor()
    if parent is None:
        return None
    pid, started = parent

    def watch():
        while True:
            time.sleep(poll_seconds)
            info = _stat(pid)
            if info is None or info[1] != started:
                print(f"genaug: the snakemake that started this job (pid {pid}) is gone; stopping, so that the next "
                      "run resumes this cell instead of racing a second copy of it", file=log, flush=True)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    thread = threading.Thread(target=watch, name="die-with-snakemake", daemon=True)
    thread.start()
    return thread
