"""When a long loop reports, and how: step, rate and ETA at every 10 % and at least every 30 s.

One rule for generator training, classifier training and sampling, so a user watching any job's log
(`tail -f results/<ds>/logs/...`) sees it move and knows when it will end.
"""
from __future__ import annotations

import time

EVERY_S = 30.0  # the longest a running job stays silent
TENTHS = 10     # and a line at each tenth of the work


class Silent:
    """A log that discards what is written: the inner fits of a benchmark, whose progress nobody reads
    (one object, where `open(os.devnull)` per fit would leave a file handle open each time)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


SILENT = Silent()


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`: short enough for a log line."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """Times a loop of `total` steps that starts at `start` (a resumed run), for its log lines.

    `due(step)` says whether `step` should be reported; `line(step, text)` formats the report with the
    rate since the loop (re)started and the time the remaining steps will take at that rate.
    """

    def __init__(self, total: int, start: int = 0, every_s: float = EVERY_S, clock=time.perf_counter,
                 cap: bool = False, unit: str = "step"):
        """`cap`: `total` is a cap the loop may stop before (early stopping), so the ETA is an upper bound.
        `unit`: what is counted (`step`, `image`)."""
        self.total, self.start, self.every_s, self.clock = int(total), int(start), float(every_s), clock
        self.cap, self.unit = cap, unit
        self.t0 = self.last = clock()
        self._tenth = self._tenth_of(start)

    def _tenth_of(self, step: int) -> int:
        return (step * TENTHS) // self.total if self.total > 0 else TENTHS

    def due(self, step: int) -> bool:
        tenth = self._tenth_of(step)
        return step >= self.total or tenth > self._tenth or self.clock() - self.last >= self.every_s

    def line(self, step: int, text: str = "") -> str:
        now = self.clock()
        self.last, self._tenth = now, self._tenth_of(step)
        elapsed, done = now - self.t0, step - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - step) / rate if rate > 0 else float("nan")
        eta = duration(left) if left == left else "?"
        per_s = f"{rate:.2f} {self.unit}s/s" if rate < 10 else f"{rate:.0f} {self.unit}s/s"
        ending = (f"ETA <= {eta}" if self.cap else f"ETA {eta}") if step < self.total else "done"
        parts = [f"{self.unit} {step}/{self.total}", text.strip(), per_s, f"elapsed {duration(elapsed)}", ending]
        return " ".join(p for p in parts if p)
