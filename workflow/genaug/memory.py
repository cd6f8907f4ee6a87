"""A job stays inside the memory its rule asked for (resources.mem_mb), or stops with the setting to change.

Nothing else bounds a training job's memory: `batch_size: 100000` grew one job to 23 GB until the kernel's
out-of-memory killer ended it (and, on a shared node, other users' jobs). A job's peak memory depends on the
family, the batch, the image size and the device, so it is measured, not predicted: a watcher thread reads
the process's resident memory every 20 ms and ends the job with one clear error as soon as it passes the
limit, long before the machine runs out. Outputs are written atomically, so nothing half-written is left.
"""

from __future__ import annotations

import os
import sys
import threading
import time

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_mb() -> float:
    """This process's resident memory in MiB (Linux /proc; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def guard(limit_mb: float, setting: str, rule: str, log=sys.stderr, poll_seconds: float = 0.02,
          exit_status: int = 2) -> threading.Thread | None:
    """Watch resident memory; past `limit_mb`, print which setting to lower and end the process.

    `setting` names the config field that sizes the job's memory (e.g. `models.vae.batch_size = 100000`),
    `rule` the Snakemake rule whose mem_mb is the limit. No limit (0): no watcher.
    """
    if not limit_mb or limit_mb <= 0:
        return None

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
