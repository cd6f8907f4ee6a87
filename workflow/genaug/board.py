"""Optional TensorBoard event files: training losses, validation accuracy and sample grids, live.

Off by default. `tensorboard: true` in config.yaml (with `pip install -e ".[tensorboard]"`) makes each training
job write events into a `tensorboard/` folder beside its outputs, so `tensorboard --logdir results` shows every
cell of a running grid. The setting reaches jobs through GENAUG_TENSORBOARD (genaug/jobenv.py), so switching it
reruns nothing. Event files are not outputs: Snakemake neither needs nor removes them.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .jobenv import RUN_ONLY_ENV

ENV = RUN_ONLY_ENV["tensorboard"]


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def wanted() -> bool:
    return os.environ.get(ENV, "").lower() in ("1", "true", "yes")


class Board:
    """One job's event writer; every method is a no-op when TensorBoard is off."""

    def __init__(self, folder: str | Path | None):
        self.writer = None
        if folder is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(folder), flush_secs=10)

    def scalars(self, step: int, values: dict, prefix: str = "") -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            value = float(value.mean()) if hasattr(value, "mean") else float(value)
            self.writer.add_scalar(f"{prefix}{key}", value, step)

    def image(self, tag: str, png: str | Path, step: int = 0) -> None:
        """A PNG (a sample grid) as an image event."""
        if self.writer is None or not Path(png).exists():
            return
        import numpy as np
        from PIL import Image

        with Image.open(png) as im:
            self.writer.add_image(tag, np.asarray(im.convert("RGB")), step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


_OFF = Board(None)
_current = [_OFF]


def current() -> Board:
    """The board of the job this process runs (the training loops write to it without being passed it, so a
    family's own `fit` needs no new parameter)."""
    return _current[-1]


@contextlib.contextmanager
def beside(output: str | Path):
    """Open the job's board in `tensorboard/` beside `output` for the block, when GENAUG_TENSORBOARD is on."""
    b = Board(Path(output).parent / "tensorboard" if wanted() else None)
    _current.append(b)
    try:
        yield b
    finally:
        _current.pop()
        b.close()
