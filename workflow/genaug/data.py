"""Datasets: find the real files, load them once, and cache both splits as uint8 tensors.

Every stage reads the cache written by `genaug prepare` (one .npz per dataset), so the slow part
(IDX parsing, decoding a folder of PNGs) happens once per grid.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import GenaugError
from .io import NPZ_ERRORS, atomic_path, save_npz

DATASETS = ("fashion_mnist", "mnist", "digits", "folder")

# torchvision class name, the names its raw files have, and where Debian installs a copy.
_TORCHVISION = {
    "fashion_mnist": ("FashionMNIST", [Path("/usr/share/datasets/fashion-mnist")]),
    "mnist": ("MNIST", []),
}
IDX_FILES = {  # raw file name -> number of dimensions it must have
    "train-images-idx3-ubyte": 3,
    "train-labels-idx1-ubyte": 1,
    "t10k-images-idx3-ubyte": 3,
    "t10k-labels-idx1-ubyte": 1,
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


@dataclass
class Dataset:
    """Both splits of one dataset as uint8 (N, C, H, W) tensors with int64 labels."""

    name: str
    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

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


def _raw_files_in(folder: Path) -> dict[str, Path] | None:
    """Map each IDX file name to its path in `folder` (plain or .gz), or None if any is missing."""
    found = {}
    for name in IDX_FILES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found


def _install_raw(files: dict[str, Path], raw: Path) -> None:
    """Copy (and gunzip) IDX files into a torchvision raw folder, each atomically."""
    raw.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        dst = raw / name
        if dst.is_file():
            continue
        with atomic_path(dst) as tmp:
            opener = gzip.open if src.suffix == ".gz" else open
            try:
                with opener(src, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
                raise GenaugError(f"{src}: cannot read ({err}); replace it with an intact copy") from err


def locate_torchvision_root(name: str, data_dir: str | Path | None, cache_dir: str | Path) -> Path:
    """Find the dataset's IDX files and return a torchvision root holding `<Class>/raw/` with them.

    Looks, in order, in `data_dir`, in `cache_dir` (data/raw/), in the system copy (Debian's
    dataset-fashion-mnist), then tries torchvision's download into `cache_dir`.
    """
    tv_name, system_dirs = _TORCHVISION[name]
    cache_dir = Path(cache_dir)
    tried: list[str] = []
    candidates: list[tuple[Path, Path]] = []  # (folder that may hold the files, torchvision root to use)
    if data_dir is not None:
        data_dir = Path(data_dir)
        candidates += [(data_dir / tv_name / "raw", data_dir), (data_dir, cache_dir)]
    candidates.append((cache_dir / tv_name / "raw", cache_dir))
    candidates += [(d, cache_dir) for d in system_dirs]

    for folder, root in candidates:
        files = _raw_files_in(folder)
        if files is None:
            tried.append(f"{folder}: not all of {', '.join(IDX_FILES)} (.gz or plain) are there")
            continue
        raw = root / tv_name / "raw"
        _install_raw(files, raw)  # no-op for files already there uncompressed
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
    remedies = [f"set data_dir in config.yaml to a folder holding the four IDX files of {name}"]
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
    cls = getattr(datasets, _TORCHVISION[name][0])
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
        np.arange(len(y)), test_size=test_fraction, stratify=bunch.target, random_state=0
    )
    idx_train, idx_test = np.sort(idx_train), np.sort(idx_test)
    return Dataset("digits", [str(c) for c in bunch.target_names], x[idx_train], y[idx_train], x[idx_test], y[idx_test])


# ---------------------------------------------------------------- a user's ImageFolder tree


def _scan_class_folders(root: Path) -> dict[str, list[Path]]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise GenaugError(f"{root}: a folder dataset needs at least two class subfolders (root/<class>/*.png)")
    out = {}
    for c in classes:
        files = sorted(p for p in c.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise GenaugError(f"{c}: class folder holds no images; add images or remove the folder")
        out[c.name] = files
    return out


def _read_image(path: Path, mode: str, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise GenaugError(f"{path}: not an image file; move it out of the dataset folder")
    try:
        with Image.open(path) as im:
            im = im.convert(mode).resize((size, size), Image.BICUBIC)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise GenaugError(f"{path}: cannot be read as an image ({err}); fix or remove it") from err
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _folder_mode(files: list[Path], channels: str | int) -> str:
    if channels in (1, "1"):
        return "L"
    if channels in (3, "3"):
        return "RGB"
    from PIL import Image

    for path in files:  # auto: grayscale unless some image has colour
        if path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                with Image.open(path) as im:
                    if im.mode not in ("1", "L", "LA", "I", "I;16", "F"):
                        return "RGB"
            except OSError:
                continue  # reported with its path when it is read
    return "L"


def _load_folder(root: str | Path | None, image_size: int, channels, test_fraction: float) -> Dataset:
    """An ImageFolder tree root/<class>/*; root/train and root/test are used as the splits if present."""
    if root is None:
        raise GenaugError("dataset 'folder' needs data_dir in config.yaml: the root of root/<class>/*.png")
    root = Path(root)
    if not root.is_dir():
        raise GenaugError(f"data_dir {root} is not a directory; set data_dir to the folder dataset's root")
    split_roots = (root / "train", root / "test")
    if all(p.is_dir() for p in split_roots):
        trees = [_scan_class_folders(p) for p in split_roots]
        if list(trees[0]) != list(trees[1]):
            raise GenaugError(f"{root}: train/ and test/ have different class folders; make them the same")
    else:
        trees = [_scan_class_folders(root)]
    classes = list(trees[0])
    mode = _folder_mode([f for tree in trees for files in tree.values() for f in files], channels)

    def read(tree):
        xs, ys = [], []
        for label, c in enumerate(classes):
            for path in tree[c]:
                xs.append(_read_image(path, mode, image_size))
                ys.append(label)
        return torch.from_numpy(np.stack(xs)), torch.tensor(ys, dtype=torch.long)

    if len(trees) == 2:
        (train_x, train_y), (test_x, test_y) = read(trees[0]), read(trees[1])
    else:
        from sklearn.model_selection import train_test_split

        x, y = read(trees[0])
        try:
            i_tr, i_te = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y.numpy(), random_state=0)
        except ValueError as err:
            raise GenaugError(f"{root}: cannot split off a stratified test set ({err}); add images per class") from err
        i_tr, i_te = np.sort(i_tr), np.sort(i_te)
        train_x, train_y, test_x, test_y = x[i_tr], y[i_tr], x[i_te], y[i_te]
    return Dataset("folder", classes, train_x, train_y, test_x, test_y)


# ---------------------------------------------------------------- entry points


def load_source(
    name: str,
    *,
    data_dir=None,
    cache_dir="data/raw",
    image_size: int = 28,
    channels="auto",
    test_fraction: float = 0.2,
) -> Dataset:
    """Load a dataset from wherever its files are; see the README's data section for the search order."""
    if name in _TORCHVISION:
        return _load_torchvision(name, data_dir, cache_dir)
    if name == "digits":
        return _load_digits(image_size, 0.3)
    if name == "folder":
        return _load_folder(data_dir, image_size, channels, test_fraction)
    raise GenaugError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def save_dataset(ds: Dataset, path: str | Path) -> None:
    """Write the cache every later stage loads (uncompressed, so loading is a memory copy)."""
    save_npz(
        path,
        compress=False,
        name=np.array(ds.name),
        classes=np.array(ds.classes),
        train_x=ds.train_x.numpy(),
        train_y=ds.train_y.numpy(),
        test_x=ds.test_x.numpy(),
        test_y=ds.test_y.numpy(),
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
            )
    except NPZ_ERRORS as err:
        raise GenaugError(f"{path}: not a readable dataset cache ({err}); delete it and rerun `genaug prepare`") from err


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]."""
    return x.float().div_(255.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float images in [0, 1] -> uint8, rounding and clipping."""
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)
