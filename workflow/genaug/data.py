"""Datasets: find the real files, load them once, and cache both splits as uint8 tensors.

Every stage reads the cache written by `genaug prepare` (one .npz per dataset), so the slow part
(IDX parsing, decoding a folder of PNGs) happens once per grid.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import streams
from .errors import GenaugError, rebuild_hint
from .io import NPZ_ERRORS, atomic_path, save_npz
from .progress import Progress
from .sources import (CACHE_DIR, DATASETS, IDX_FILES, IMAGE_SUFFIXES, TORCHVISION, class_folders, folder_splits,
                      idx_candidates, raw_files_in, split_class_names, stratified_split, visible_files)


@dataclass
class Dataset:
    """Both splits of one dataset as uint8 (N, C, H, W) tensors with int64 labels."""

    name: str
    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    notes: list[str] = field(default_factory=list)  # choices made while reading the source, for the log and report

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# ---------------------------------------------------------------- IDX files (MNIST-style)


def check_idx(path: Path, ndim: int) -> None:
    """Raise a GenaugError naming `path` unless it is a complete uint8 IDX file with `ndim` dimensions."""
    fix = f"delete {path} and rerun so it is extracted again, or replace it with an intact copy"
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(4 + 4 * ndim)
    if len(header) < 4 or header[0] != 0 or header[1] != 0:
        raise GenaugError(f"{path}: not an IDX file (bad magic number); {fix}")
    if header[2] != 0x08 or header[3] != ndim:
        raise GenaugError(
            f"{path}: expected an IDX file of uint8 with {ndim} dimensions, found type 0x{header[2]:02x} "
            f"with {header[3]} dimensions; {fix}"
        )
    if len(header) < 4 + 4 * ndim:
        raise GenaugError(f"{path}: truncated IDX header; {fix}")
    dims = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if size != expected:
        raise GenaugError(f"{path}: IDX header says {dims} ({expected} bytes) but the file has {size} bytes; {fix}")


def _install_raw(files: dict[str, Path], raw: Path) -> None:
    """Copy (and gunzip) IDX files into a torchvision raw folder, each atomically.

    A copy is redone when its source's path, size or modification time differ from those it was made from
    (recorded in raw/.sources.json), so replacing a source file is never hidden by an old extracted copy.
    """
    raw.mkdir(parents=True, exist_ok=True)
    stamp_path = raw / ".sources.json"
    try:
        stamps = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamps = {}
    changed = False
    for name, src in files.items():
        dst = raw / name
        if src.resolve() == dst.resolve():
            continue
        st = src.stat()
        stamp = [str(src.resolve()), st.st_size, st.st_mtime_ns]
        if dst.is_file() and stamps.get(name) == stamp:
            continue
        with atomic_path(dst) as tmp:
            opener = gzip.open if src.suffix == ".gz" else open
            try:
                with opener(src, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
                raise GenaugError(f"{src}: cannot read ({err}); replace it with an intact copy") from err
        stamps[name], changed = stamp, True
    if changed:
        with atomic_path(stamp_path) as tmp:
            Path(tmp).write_text(json.dumps(stamps, indent=1))


def locate_torchvision_root(name: str, data_dir: str | Path | None, cache_dir: str | Path) -> Path:
    """Find the dataset's IDX files and return a torchvision root holding `<Class>/raw/` with them.

    Looks, in order, in `data_dir`, in the system copy (Debian's dataset-fashion-mnist), in `cache_dir`
    (data/raw/), then tries torchvision's download into `cache_dir` (sources.idx_candidates).
    """
    tv_name = TORCHVISION[name][0]
    cache_dir = Path(cache_dir)
    tried: list[str] = []
    candidates = idx_candidates(name, data_dir, cache_dir)

    for folder, root in candidates:
        files = raw_files_in(folder)
        if files is None:
            tried.append(f"{folder}: not all of {', '.join(IDX_FILES)} (.gz or plain) are there")
            continue
        raw = root / tv_name / "raw"
        _install_raw(files, raw)  # no-op for copies made from these very files
        for fname, ndim in IDX_FILES.items():
            check_idx(raw / fname, ndim)
        return root

    try:
        from torchvision import datasets

        getattr(datasets, tv_name)(str(cache_dir), train=True, download=True)
        getattr(datasets, tv_name)(str(cache_dir), train=False, download=True)
        return cache_dir
    except Exception as err:  # any network or checksum failure: report all remedies at once
        tried.append(f"torchvision download into {cache_dir}: {type(err).__name__}: {err}")
    remedies = [f"set data_dir (config.yaml or your --configfile) to a folder holding the four IDX files of {name}"]
    remedies.append(f"put them in {cache_dir / tv_name / 'raw'}")
    if name == "fashion_mnist":
        remedies.append("install Debian's copy: apt-get install dataset-fashion-mnist")
    remedies.append("or run where torchvision can download it")
    raise GenaugError(
        f"dataset {name!r} not found. Looked in:\n  - "
        + "\n  - ".join(tried)
        + "\nFix: "
        + "; ".join(remedies)
        + "."
    )


def _load_torchvision(name: str, data_dir, cache_dir) -> Dataset:
    from torchvision import datasets

    root = locate_torchvision_root(name, data_dir, cache_dir)
    cls = getattr(datasets, TORCHVISION[name][0])
    train, test = cls(str(root), train=True, download=False), cls(str(root), train=False, download=False)
    for split, prefix in ((train, "train"), (test, "t10k")):
        if len(split.data) != len(split.targets):
            raise GenaugError(f"{split.raw_folder}: image and label files disagree on the number of items")
        bad = (split.targets < 0) | (split.targets >= len(train.classes))
        if bad.any():
            raise GenaugError(
                f"{Path(split.raw_folder) / f'{prefix}-labels-idx1-ubyte'}: label {int(split.targets[bad][0])} is "
                f"outside 0..{len(train.classes) - 1} ({int(bad.sum())} such labels); replace it with an intact copy"
            )
    return Dataset(
        name=name,
        classes=list(train.classes),
        train_x=train.data.unsqueeze(1).contiguous(),
        train_y=train.targets.long(),
        test_x=test.data.unsqueeze(1).contiguous(),
        test_y=test.targets.long(),
    )


# ---------------------------------------------------------------- scikit-learn digits (embedded)


def _load_digits(image_size: int, test_fraction: float) -> Dataset:
    """scikit-learn's 8x8 digits, upsampled to image_size, with a fixed stratified test split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float().unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    y = torch.from_numpy(bunch.target).long()
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=test_fraction, stratify=bunch.target,
        random_state=streams.sklearn_seed("dataset_split")
    )
    idx_train, idx_test = np.sort(idx_train), np.sort(idx_test)
    return Dataset("digits", [str(c) for c in bunch.target_names], x[idx_train], y[idx_train], x[idx_test], y[idx_test])


# ---------------------------------------------------------------- a user's ImageFolder tree


def _scan_class_folders(root: Path, notes: list[str]) -> dict[str, list[Path]]:
    """root/<class>/**: each class folder's files; images in nested subfolders belong to their class (noted)."""
    classes = class_folders(root)
    if len(classes) < 2:
        raise GenaugError(f"{root}: a folder dataset needs at least two class subfolders (root/<class>/*.png)")
    out = {}
    for c in classes:
        files = visible_files(c)
        if not files:
            raise GenaugError(f"{c}: class folder holds no images; add images or remove the folder")
        nested = [p for p in files if p.parent != c]
        if nested:
            notes.append(f"{c}: {len(nested)} of {len(files)} images read from nested subfolders into class "
                         f"{c.name!r} (e.g. {nested[0].relative_to(c)})")
        out[c.name] = files
    return out


# Pillow modes by how their pixels are stored: 16-bit integer, grey, and colour or palette.
_MODES_16BIT = {"I;16", "I;16B", "I;16L", "I;16N"}
_MODES_GREY = {"1", "L", "LA", "La", "I", "F", *_MODES_16BIT}
_MODES_ALPHA = {"LA", "La", "RGBA", "RGBa", "PA"}


def _has_alpha(im) -> bool:
    return im.mode in _MODES_ALPHA or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)


# The largest channel spread (of 255) that still counts as grey: a JPEG of a grey image saved in colour carries
# a level or two of chroma noise.
GREY_SPREAD = 2


def _is_grey(im) -> bool:
    """An image's real channel count: grey modes, and images stored in colour (RGB, palette, CMYK, ...) whose visible
    pixels have equal red, green and blue within GREY_SPREAD levels: a grey scan saved as RGB is grey."""
    from PIL import ImageChops

    if im.mode in _MODES_GREY:
        return True
    if _has_alpha(im):
        r, g, b, alpha = im.convert("RGBA").split()
        visible = alpha.point(lambda v: 255 if v else 0)
    else:
        (r, g, b), visible = im.convert("RGB").split(), None
    for one, other in ((r, g), (g, b), (r, b)):  # Pillow's C loops: a 12-megapixel photo in a tenth of a second
        diff = ImageChops.difference(one, other)
        if (ImageChops.multiply(diff, visible) if visible else diff).getextrema()[1] > GREY_SPREAD:
            return False
    return True


def _decode(im, path: Path, mode: str) -> tuple[np.ndarray, str | None]:
    """Pixels as (H, W) or (H, W, 3) in `mode` ("L" or "RGB"): uint8 as Pillow gives them, float64 in [0, 1]
    for 16-bit and floating-point images, whose range an 8-bit conversion would clip; and what was done."""
    if im.mode in _MODES_16BIT or im.mode in ("I", "F"):
        a = np.asarray(im).astype(np.float64)
        top, what = (1.0, "floating-point") if im.mode == "F" else (65535.0, "16-bit")
        if a.size and (a.min() < 0 or a.max() > top):
            raise GenaugError(
                f"{path}: {what} image with values {a.min():g}..{a.max():g}, outside 0..{top:g}; save it as an "
                f"8- or 16-bit image (or, floating-point, scaled to 0..1)")
        a = a / top
        return (np.repeat(a[..., None], 3, axis=2) if mode == "RGB" else a), f"{what} image scaled to 8 bits"
    if _has_alpha(im):  # transparent pixels hold arbitrary colour: composite onto black
        rgba = np.asarray(im.convert("RGBA")).astype(np.float64)
        rgb = rgba[..., :3] * (rgba[..., 3:] / 255.0)
        if mode == "L":  # ITU-R 601-2 luma, Pillow's own L conversion
            rgb = rgb @ np.array([0.299, 0.587, 0.114])
        seen = rgba[..., 3].min() < 255  # PNGs are often saved RGBA with every pixel opaque: nothing to note
        return np.clip(np.round(rgb), 0, 255).astype(np.uint8), ("transparent pixels composited onto black" if seen
                                                                  else None)
    return np.asarray(im.convert(mode), dtype=np.uint8), None


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    """Bicubic to size x size: uint8 through Pillow's 8-bit path, float per channel in Pillow's F mode."""
    from PIL import Image

    if a.shape[:2] == (size, size):
        return a if a.dtype == np.uint8 else np.clip(np.round(a * 255), 0, 255).astype(np.uint8)
    if a.dtype == np.uint8:
        return np.asarray(Image.fromarray(a).resize((size, size), Image.BICUBIC), dtype=np.uint8)
    chans = [a] if a.ndim == 2 else [a[..., i] for i in range(a.shape[2])]
    out = [np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize((size, size), Image.BICUBIC))
           for c in chans]
    out = out[0] if a.ndim == 2 else np.stack(out, axis=2)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def _square(a: np.ndarray, fit: str | None) -> tuple[np.ndarray, str | None]:
    """A non-square (H, W[, 3]) image made square as `fit` says (stretch leaves it to the resize), and what was done;
    None: left to the resize, unnoted (the caller says what it did)."""
    h, w = a.shape[:2]
    if h == w or fit is None:
        return a, None
    if fit == "stretch":
        return a, "not square: stretched (folder.fit crop or pad keeps the aspect ratio)"
    if fit == "crop":
        m = min(h, w)
        top, left = (h - m) // 2, (w - m) // 2
        return a[top:top + m, left:left + m], "not square: centre square cropped (folder.fit)"
    if fit != "pad":
        raise GenaugError(f"folder.fit: {fit!r}; use stretch, crop or pad")
    m = max(h, w)
    out = np.zeros((m, m, *a.shape[2:]), dtype=a.dtype)
    top, left = (m - h) // 2, (m - w) // 2
    out[top:top + h, left:left + w] = a
    return out, "not square: padded with black to a square (folder.fit)"


def _read_image(path: Path, mode: str, size: int, fit: str | None = None) -> tuple[np.ndarray, list[str]]:
    """One image as uint8 (C, size, size) in `mode`, and the conversions it needed beyond resizing, if any."""
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise GenaugError(f"{path}: not an image file; move it out of the dataset folder")
    try:
        with Image.open(path) as im:
            im.draft(None, (size, size))  # a JPEG decodes at 1/2 to 1/8 scale where that still covers `size`
            turned = _upright(im)
            a, did = _decode(turned or im, path, mode)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise GenaugError(f"{path}: cannot be read as an image ({err}); fix or remove it") from err
    a, squared = _square(a, fit)
    arr = _resize(a, size)
    turned = "EXIF orientation applied (turned upright, as a viewer shows it)" if turned else None
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)), [d for d in (turned, did, squared) if d]


def _upright(im):
    """A camera's photo turned as its EXIF orientation says (as every viewer shows it), or None where it is
    stored upright: the pixels of a phone photo are often stored on their side."""
    from PIL import ImageOps

    if im.getexif().get(0x0112, 1) in (0, 1):  # 0x0112: Orientation; 1 (or a bad 0): as stored
        return None
    return ImageOps.exif_transpose(im)


def _folder_mode(files: list[Path], channels: str | int, notes: list[str], log=None) -> str:
    """Grey ("L") or colour ("RGB"): as configured, or auto: grey unless some image really has colour."""
    if channels in (1, "1"):
        return "L"
    if channels in (3, "3"):
        return "RGB"
    from PIL import Image

    stored_in_colour, progress = 0, Progress(len(files), unit="image")
    for n, path in enumerate(files, 1):
        if log is not None and progress.due(n):
            print(progress.line(n, "checked for colour"), file=log, flush=True)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                with Image.open(path) as im:
                    if not _is_grey(im):
                        notes.append(f"channels auto: 3 (colour), first colour image {path}")
                        return "RGB"
                    stored_in_colour += im.mode not in _MODES_GREY
            except (OSError, ValueError, Image.DecompressionBombError):
                continue  # reported with its path when it is read
    in_colour = f"; {stored_in_colour} stored in a colour mode, with equal red, green and blue, read as grey"
    notes.append(f"channels auto: 1 (every image is grey{in_colour if stored_in_colour else ''})")
    return "L"


def image_counts(decisions: list[str]) -> list[str]:
    """Each decision made on images (one entry per image), counted: '3 images: turned upright (EXIF)'."""
    counts = Counter(decisions)
    return [f"{k} image{'s' if k != 1 else ''}: {d}" for d, k in sorted(counts.items())]


def _load_folder(root: str | Path | None, image_size: int, channels, test_fraction: float,
                 fit: str = "stretch", log=None) -> Dataset:
    """An ImageFolder tree root/<class>/**; root/train and root/test are used as the splits if present.

    Every choice made on the user's behalf (nested folders, grey or colour, 16-bit scaling, transparency,
    non-square images) is kept in the dataset's notes, which the prepare log and the report show.
    """
    if root is None:
        raise GenaugError("dataset 'folder' needs data_dir (config.yaml or your --configfile): the root of "
                          "root/<class>/*.png")
    root = Path(root)
    if not root.is_dir():
        raise GenaugError(f"data_dir {root} is not a directory; set data_dir to the folder dataset's root")
    notes: list[str] = []
    splits = folder_splits(root)
    if len(splits) == 2:
        notes += [f"{p}: not read (genaug reads train/ and test/, and holds validation images out of train/)"
                  for p in class_folders(root) if p not in splits]
    split_class_names(splits)
    trees = [_scan_class_folders(p, notes) for p in splits]
    classes = list(trees[0])
    mode = _folder_mode([f for tree in trees for files in tree.values() for f in files], channels, notes, log)
    done: list[str] = []  # what was done to each image, once per image it was done to

    progress = Progress(sum(len(files) for tree in trees for files in tree.values()), unit="image")
    count = 0

    def read(tree):
        nonlocal count
        xs, ys = [], []
        for label, c in enumerate(classes):
            for path in tree[c]:
                x, dids = _read_image(path, mode, image_size, fit)
                done.extend(dids)
                xs.append(x)
                ys.append(label)
                count += 1
                if log is not None and progress.due(count):
                    print(progress.line(count, "read"), file=log, flush=True)
        return torch.from_numpy(np.stack(xs)), torch.tensor(ys, dtype=torch.long)

    if len(trees) == 2:
        (train_x, train_y), (test_x, test_y) = read(trees[0]), read(trees[1])
    else:
        x, y = read(trees[0])
        i_tr, i_te = stratified_split(y.numpy(), test_fraction, root)
        train_x, train_y, test_x, test_y = x[i_tr], y[i_tr], x[i_te], y[i_te]
    notes += image_counts(done)
    return Dataset("folder", classes, train_x, train_y, test_x, test_y, notes)


# ---------------------------------------------------------------- entry points


def load_source(
    name: str,
    *,
    data_dir=None,
    cache_dir=CACHE_DIR,
    image_size: int = 28,
    channels="auto",
    fit: str = "stretch",
    test_fraction: float = 0.2,
    log=None,
) -> Dataset:
    """Load a dataset from wherever its files are; docs/models.md (Data sources) gives the search order. A folder
    dataset's reading reports its progress to `log`."""
    if name in TORCHVISION:
        return _load_torchvision(name, data_dir, cache_dir)
    if name == "digits":
        return _load_digits(image_size, 0.3)
    if name == "folder":
        return _load_folder(data_dir, image_size, channels, test_fraction, fit, log)
    raise GenaugError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def save_dataset(ds: Dataset, path: str | Path, manifest: dict | None = None) -> None:
    """Write the cache every later stage loads (uncompressed, so loading is a memory copy), with the manifest
    of the source files it was read from (sources.manifest), which tells the workflow it is tracked."""
    extra = {} if manifest is None else {"manifest": np.array(json.dumps(manifest))}
    save_npz(
        path,
        compress=False,
        name=np.array(ds.name),
        classes=np.array(ds.classes),
        train_x=ds.train_x.numpy(),
        train_y=ds.train_y.numpy(),
        test_x=ds.test_x.numpy(),
        test_y=ds.test_y.numpy(),
        notes=np.array(ds.notes, dtype=str),
        **extra,
    )


def load_dataset(path: str | Path) -> Dataset:
    """Read a cache written by save_dataset."""
    try:
        with np.load(path) as z:
            return Dataset(
                name=str(z["name"]),
                classes=[str(c) for c in z["classes"]],
                train_x=torch.from_numpy(z["train_x"]),
                train_y=torch.from_numpy(z["train_y"]).long(),
                test_x=torch.from_numpy(z["test_x"]),
                test_y=torch.from_numpy(z["test_y"]).long(),
                notes=[str(n) for n in z["notes"]] if "notes" in z.files else [],
            )
    except NPZ_ERRORS as err:
        raise GenaugError(f"{path}: not a readable dataset cache ({err}); {rebuild_hint(path)}") from err


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]."""
    return x.float().div_(255.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float images in [0, 1] -> uint8, rounding and clipping."""
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)
