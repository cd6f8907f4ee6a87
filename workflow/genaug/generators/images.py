"""Synthetic images made elsewhere (family `images`): a pool of labelled images read from disk.

A text-to-image model, a generator trained in another codebase, a hand-curated set: whatever made them, the
pool is sampled with the cell's synthesis policy (each class's images drawn without replacement, in a
seeded order) and then filtered, scored and judged like any generator's samples. Nothing is trained; the
"checkpoint" holds the pool itself, so a cell's synthetic set is reproducible from its files.

Sources: a folder per class (`<path>/<class>/*.png|jpg`, class folders named as the dataset's classes or
by index), or an `.npz` with `images` (N, H, W[, C]) or (N, C, H, W), uint8 or float in [0, 1], and
`labels` (class indices or names). `layout: shared` reads one pool for every cell; `per_cell` reads
`<path>/<regime>/<size>/s<seed>` (a folder or `.npz`) for each cell.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from ..config import class_index
from ..errors import GenaugError
from ..sources import POOL_LAYOUTS, pool_source
from .base import Generator

class ImagePool(Generator):
    """Synthetic images made elsewhere, read from disk per cell and drawn without replacement (nothing trains)."""

    conditional = True  # sample() returns images of the classes asked for

    def __init__(self, image_shape, num_classes: int, path: str = "", layout: str = "shared",
                 resize: bool = False):
        super().__init__(image_shape, num_classes, path=path, layout=layout, resize=resize)
        if layout not in POOL_LAYOUTS:
            raise ValueError(f"layout {layout!r}: use one of {', '.join(POOL_LAYOUTS)}")
        self.path, self.layout, self.resize = path, layout, resize
        self.register_buffer("pool", torch.zeros((0, *self.image_shape), dtype=torch.uint8))
        self.register_buffer("pool_labels", torch.zeros(0, dtype=torch.long))
        self._gen, self._orders = None, {}

    def read(self, classes: list[str], regime: str, size: str, seed: int, log=sys.stderr) -> dict:
        """Load the cell's pool into the model; returns what was read (for the log and the metadata)."""
        src = pool_source(self.path, self.layout, regime, size, seed)
        if not src.exists():
            where = "" if self.layout == "shared" else f" (layout per_cell: <path>/{regime}/{size}/s{seed}[.npz])"
            raise GenaugError(f"{src}: no synthetic images there{where}; check models.<name>.path")
        if src.is_dir():
            x, y, notes = _read_folder(src, classes, self.image_shape, self.resize)
        else:
            x, y, notes = _read_npz(src, classes, self.image_shape, self.resize)
        self.pool, self.pool_labels = x.to(self.epoch.device), y.to(self.epoch.device)
        counts = torch.bincount(y, minlength=len(classes)).tolist()
        print(f"read {len(y)} synthetic images from {src}: per class {counts}", file=log, flush=True)
        for note in notes:
            print(f"  {note}", file=log)
        return {"source": str(src), "counts": counts, "notes": notes}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("pool", "pool_labels"):  # a saved pool has its own size: make room before loading
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def loss(self, x, y):  # never called: nothing trains (stages.train_gen reads the pool instead)
        raise GenaugError("family images is not trained; its pool is read from disk")

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Images of the asked classes, each class's drawn without replacement in an order seeded by `gen`
        (kept across calls with the same generator, so a set made in chunks never repeats an image)."""
        if gen is not self._gen:
            self._gen, self._orders = gen, {}
        labels = labels.to(self.pool.device)
        out = torch.empty((len(labels), *self.image_shape), device=self.pool.device)
        for c in labels.unique().tolist():
            at = torch.nonzero(labels == c).flatten()
            have = torch.nonzero(self.pool_labels == c).flatten()
            if c not in self._orders:
                self._orders[c] = [have[torch.randperm(len(have), generator=gen).to(have.device)], 0]
            order, used = self._orders[c]
            if used + len(at) > len(order):
                raise GenaugError(
                    f"{self.path}: {used + len(at)} images of class {c} are asked for, the pool holds {len(order)}; "
                    "add images of that class, or ask fewer: synthesis (policy, per_class, ratio) for a "
                    "classifier's set, gen_metrics.per_class for a metric set")
            out[at] = self.pool[order[used:used + len(at)]].float() / 255.0
            self._orders[c][1] = used + len(at)
        return out


def _target_mode(image_shape) -> str:
    return "L" if image_shape[0] == 1 else "RGB"


def _read_folder(root: Path, classes: list[str], image_shape, resize: bool):
    from ..data import image_counts
    from ..sources import class_folders, visible_files

    folders = class_folders(root)
    if not folders:
        raise GenaugError(f"{root}: no class folders; put each class's images in <path>/<class name or index>/")
    xs, ys, notes = [], [], []
    for folder in folders:
        try:  # a digit name is a class of that name where there is one, else an index
            c = class_index(folder.name, classes, f"{root}: folder {folder.name!r}")
        except GenaugError as err:
            raise GenaugError(f"{err}; rename the folder") from None
        files = visible_files(folder)
        for path in files:
            xs.append(_read_checked(path, image_shape, resize, notes))
            ys.append(c)
    if not xs:
        raise GenaugError(f"{root}: the class folders hold no images")
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys, dtype=torch.long), image_counts(notes)


def _read_checked(path: Path, image_shape, resize: bool, notes: list) -> np.ndarray:
    """One file as uint8 (C, H, W) of the dataset's shape; another size or channel count is an error
    naming the file, unless `resize` (then noted)."""
    from PIL import Image, UnidentifiedImageError

    from ..data import _is_grey, _read_image

    c, h, w = image_shape
    try:
        with Image.open(path) as im:
            size, grey = im.size, _is_grey(im)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise GenaugError(f"{path}: cannot be read as an image ({err}); fix or remove it") from err
    if size != (w, h):
        if not resize:
            raise GenaugError(f"{path}: {size[0]}x{size[1]} pixels, the dataset's images are {w}x{h}; make them "
                              "that size, or set the model's resize: true")
        notes.append(f"resized from {size[0]}x{size[1]} to {w}x{h}")
    if c == 1 and not grey:
        if not resize:
            raise GenaugError(f"{path}: a colour image, the dataset is greyscale; convert it, or set the model's "
                              "resize: true (converted to grey)")
        notes.append("colour converted to grey")
    arr, dids = _read_image(path, _target_mode(image_shape), h)
    notes.extend(dids)
    return arr


def _read_npz(path: Path, classes: list[str], image_shape, resize: bool):
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            xk = next((k for k in ("images", "x") if k in keys), None)
            yk = next((k for k in ("labels", "y") if k in keys), None)
            if xk is None or yk is None:
                raise GenaugError(f"{path}: needs arrays 'images' and 'labels' (it has {', '.join(sorted(keys))})")
            x, y = z[xk], z[yk]
    except (OSError, ValueError) as err:
        raise GenaugError(f"{path}: not a readable .npz ({err}); write it with numpy.savez") from err
    if len(x) != len(y):
        raise GenaugError(f"{path}: {len(x)} images but {len(y)} labels")
    c, h, w = image_shape
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    if x.ndim != 4:
        raise GenaugError(f"{path}: images of shape {x.shape}; give (N, H, W), (N, H, W, C) or (N, C, H, W)")
    if x.dtype == np.uint8:
        xf = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        if np.nanmin(x) < 0 or np.nanmax(x) > 1 or not np.isfinite(x).all():
            raise GenaugError(f"{path}: float images must lie in [0, 1] (found {np.nanmin(x):g}..{np.nanmax(x):g})")
        xf = x.astype(np.float32)
    else:
        raise GenaugError(f"{path}: images of dtype {x.dtype}; give uint8 (0..255) or float in [0, 1]")
    notes = []
    t = torch.from_numpy(xf)
    if tuple(t.shape[1:]) != (c, h, w):
        if not resize:
            raise GenaugError(f"{path}: images of shape {tuple(t.shape[1:])} (C, H, W), the dataset's are "
                              f"{(c, h, w)}; make them that shape, or set the model's resize: true")
        if t.shape[1] != c:
            t = t.mean(1, keepdim=True) if c == 1 else t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t
            if t.shape[1] != c:
                raise GenaugError(f"{path}: {t.shape[1]} channels cannot be converted to {c}")
            notes.append(f"{len(t)} images: channels converted to {c}")
        if tuple(t.shape[2:]) != (h, w):
            notes.append(f"{len(t)} images: resized from {t.shape[2]}x{t.shape[3]} to {h}x{w}")
            t = torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", antialias=True,
                                                align_corners=False).clamp(0, 1)
    values = y.tolist()
    index = {v: class_index(v if isinstance(v, int) else str(v), classes, f"{path}: label {v!r}")
             for v in set(values)}
    labels = torch.tensor([index[v] for v in values], dtype=torch.long)
    return (t * 255).round().to(torch.uint8), labels, notes
