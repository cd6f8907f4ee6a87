"""Where a dataset's files are, found without reading them: the search order `prepare` follows, and the
manifest (each source file's name, size and modification time) that lets Snakemake notice a changed source.
The manifest file also keeps each file's SHA-256, so a file that was only touched or copied again (a new
modification time, the same bytes) does not rerun a grid.

Torch- and numpy-free: the Snakefile imports it while it builds the DAG.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import sys
import zipfile
from pathlib import Path

from .errors import GenaugError

DATASETS = ("fashion_mnist", "mnist", "digits", "folder")
CACHE_DIR = "data/raw"  # where `prepare` extracts or downloads IDX files, relative to the working directory

# torchvision class name, and where Debian installs a copy.
TORCHVISION = {
    "fashion_mnist": ("FashionMNIST", [Path("/usr/share/datasets/fashion-mnist")]),
    "mnist": ("MNIST", []),
}
# The file suffixes a folder dataset reads as images; any other visible file stops `prepare`, naming it.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
IDX_FILES = {  # raw file name -> number of dimensions it must have
    "train-images-idx3-ubyte": 3,
    "train-labels-idx1-ubyte": 1,
    "t10k-images-idx3-ubyte": 3,
    "t10k-labels-idx1-ubyte": 1,
}


def raw_files_in(folder: Path) -> dict[str, Path] | None:
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


def idx_candidates(name: str, data_dir, cache_dir) -> list[tuple[Path, Path]]:
    """(folder that may hold the IDX files, torchvision root to read them from), in search order: data_dir,
    the system copy, then cache_dir, which holds only what genaug extracted or downloaded there."""
    tv_name, system_dirs = TORCHVISION[name]
    cache_dir = Path(cache_dir)
    out: list[tuple[Path, Path]] = []
    if data_dir is not None:
        data_dir = Path(data_dir)
        out += [(data_dir / tv_name / "raw", data_dir), (data_dir, cache_dir)]
    out += [(d, cache_dir) for d in system_dirs]
    out.append((cache_dir / tv_name / "raw", cache_dir))
    return out


def idx_source(name: str, data_dir, cache_dir) -> tuple[Path | None, dict[str, Path] | None]:
    """The first folder in the search order that holds all four IDX files, and their paths: what `prepare` reads
    (None, None: none yet, the download will fill the cache)."""
    for folder, _ in idx_candidates(name, data_dir, cache_dir):
        found = raw_files_in(folder)
        if found is not None:
            return folder, found
    return None, None


def idx_class_counts(name: str, data_dir, cache_dir, split: str = "train") -> list[int] | None:
    """Each class's images in an IDX dataset's train (or `t10k`: test) split, read from its labels file (60 KB), or
    None where there is none yet or it cannot be read (`prepare` then names the problem)."""
    found = idx_source(name, data_dir, cache_dir)[1]
    if found is None:
        return None
    path = found[f"{split}-labels-idx1-ubyte"]
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError):  # a bad gzip is an OSError
        return None
    if len(data) < 8 or data[:4] != b"\x00\x00\x08\x01" or int.from_bytes(data[4:8], "big") != len(data) - 8:
        return None
    counts = [0] * (max(data[8:], default=-1) + 1)
    for label in set(data[8:]):
        counts[label] = data.count(label, 8)
    return counts


def _stat(path: Path, relative_to: Path | None = None) -> list:
    return _stat_file(path, str(path.relative_to(relative_to) if relative_to else path))


def _stat_file(path, name: str) -> list:
    """A manifest entry: [name, size, mtime_ns]."""
    st = os.stat(path)
    return [name, st.st_size, st.st_mtime_ns]


# What operating systems leave in image folders, never a user's data: Windows' thumbnail cache and folder
# settings, macOS's archive metadata, a Synology NAS's index. Skipped like hidden (dot) files.
SYSTEM_FILES = {"thumbs.db", "desktop.ini", "__macosx", "@eadir"}


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in SYSTEM_FILES


def visible_files(folder: Path) -> list[Path]:
    """Every file under `folder` whose path below it has no hidden part (a dot file, SYSTEM_FILES), in a fixed
    order: what a folder dataset reads and what its manifest lists, so the two cannot disagree."""
    return [Path(path) for _, path in _visible(folder)]


def _visible(folder) -> list[tuple[tuple[str, ...], str]]:
    """visible_files as (parts below `folder`, path) in Path order, without making 70,000 Path objects: every
    snakemake call lists a folder dataset (its manifest), so a 70,000-image tree must take a fraction of a second.

    Symlinked folders are followed (a class linked in from elsewhere is read, and its changes are noticed), except
    one that leads back to a folder above it (walked through links or on disk).
    """
    found: list[tuple[tuple[str, ...], str]] = []

    def walk(path: str, parts: tuple[str, ...], above: frozenset) -> None:
        here = os.path.realpath(path) + os.sep
        try:
            with os.scandir(path) as entries:
                entries = list(entries)
        except OSError as err:
            raise GenaugError(f"{path}: cannot list this folder ({err.strerror}); make it readable, or move it "
                              f"out of the dataset") from err
        for e in entries:
            if _hidden(e.name):
                continue
            if e.is_dir():
                real = os.path.realpath(e.path)
                if real not in above and not here.startswith(real.rstrip(os.sep) + os.sep):
                    walk(e.path, (*parts, e.name), above | {real})
            elif e.is_file():
                found.append(((*parts, e.name), e.path))

    walk(str(folder), (), frozenset({os.path.realpath(folder)}))
    return sorted(found)


def class_folders(root: Path) -> list[Path]:
    """The class folders of a folder dataset's tree, in label order (sorted, hidden ones skipped).

    A folder name that is not UTF-8 (made on another system: an old zip's Latin-1 `caf\xe9`) is refused: it would
    be a class name the report, the figures and summary.csv cannot write."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p.name))
    for p in folders:
        try:
            p.name.encode("utf-8")
        except UnicodeEncodeError:
            shown = p.name.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            raise GenaugError(f"{p.parent}/{shown}: this folder's name is not UTF-8 text (written by a system with "
                              f"another encoding), and class names are written into the report; rename it, e.g. "
                              f"`convmv -r -f latin1 -t utf-8 --notest {p.parent}`") from None
    return folders


# Folder names that mark a split, not a class: a root with one of them but not train/ and test/ is refused, since
# its splits would be read as classes (train/ and val/ as a two-class dataset).
SPLIT_NAMES = ("train", "training", "test", "testing", "val", "valid", "validation", "dev", "eval")


def folder_splits(root: Path) -> list[Path]:
    """A folder dataset's split roots: [root/train, root/test] where root has both, else [root] (split later)."""
    splits = [root / "train", root / "test"]
    if all(p.is_dir() for p in splits):
        return splits
    named = [f"{p.name}/" for p in class_folders(root) if p.name.lower() in SPLIT_NAMES]
    if named:
        raise GenaugError(
            f"data_dir: {root} has {', '.join(named)} but not both train/ and test/, so its splits would be read as "
            f"classes. genaug reads root/train/<class>/ and root/test/<class>/, or root/<class>/ split by "
            f"folder.test_fraction: rename the held-out folder to test/ (validation images are held out of train/), "
            f"or point data_dir at one folder of classes")
    return [root]


def split_class_names(splits: list[Path]) -> list[str]:
    """The class names of a folder dataset's split roots, in label order; train/ and test/ must hold the same ones,
    or a class would be scored that never trained (or trained and never scored)."""
    names = [[p.name for p in class_folders(s)] for s in splits]
    if len(names) == 2 and names[0] != names[1]:
        def listed(a, b):
            missing = [n for n in a if n not in b]
            return ", ".join(map(repr, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")

        gaps = [f"{a.name}/ has {listed(x, y)}, which {b.name}/ lacks" for a, b, x, y in
                ((splits[0], splits[1], *names), (splits[1], splits[0], *names[::-1])) if set(x) - set(y)]
        raise GenaugError(f"{splits[0].parent}: train/ and test/ must hold the same class folders, but "
                          f"{'; '.join(gaps)}; add the missing class folders, or rename or remove the extra ones")
    return names[0]


def folder_class_names(data_dir) -> list[str] | None:
    """A folder dataset's class names in label order, read from its directory alone (train/ and test/ must agree),
    or None where data_dir is no folder or an empty one (an unmounted drive's mount point: see
    check_source_present): what the config check names classes against."""
    root = Path(data_dir) if data_dir else None
    if root is None or not root.is_dir():
        return None
    return split_class_names(folder_splits(root)) or None


def stratified_split(labels, test_fraction: float, root=None):
    """Train and test indices of a folder dataset without train/ and test/: a stratified share of each class to the
    test split, the same every run (the config check calls it on the class counts alone, so both agree)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from . import streams

    try:
        i_tr, i_te = train_test_split(np.arange(len(labels)), test_size=test_fraction, stratify=labels,
                                      random_state=streams.sklearn_seed("dataset_split"))
    except ValueError as err:
        raise GenaugError(f"{root}: cannot split off a stratified test set ({err}); add images per class") from err
    return np.sort(i_tr), np.sort(i_te)


def class_image_counts(split: Path) -> dict[str, int]:
    """The image files (by suffix) under each class folder of one split root, read from the directory alone."""
    return {c.name: sum(os.path.splitext(parts[-1])[1].lower() in IMAGE_SUFFIXES for parts, _ in _visible(c))
            for c in class_folders(split)}


def folder_test_counts(data_dir, test_fraction: float, need: int = 0) -> dict[str, int] | None:
    """Each class's test images in a folder dataset, read from its directory alone: its test/ images, or, with no
    train/ and test/, at least floor(n * test_fraction) (the stratified split gives each class that or more), or the
    split's own count where that bound falls below `need` (it imports scikit-learn). None where data_dir is no
    folder."""
    root = Path(data_dir) if data_dir else None
    if root is None or not root.is_dir():
        return None
    splits = folder_splits(root)
    if len(splits) == 2:
        return class_image_counts(splits[1])
    counts = class_image_counts(root)
    at_least = {c: math.floor(n * test_fraction) for c, n in counts.items()}
    if min(at_least.values(), default=0) >= need:
        return at_least
    train = folder_train_counts(root, test_fraction, exact=True)
    return {c: n - train[c] for c, n in counts.items()}


def empty_test_classes(data_dir, test_counts: dict[str, int] | None) -> list[Path]:
    """The class folders of a folder dataset's test/ that hold no image (a class that could never be scored), from
    folder_test_counts' listing; none without train/ and test/ (there prepare's split names a class too small)."""
    root = Path(data_dir) if data_dir else None
    splits = folder_splits(root) if root is not None and root.is_dir() else []
    if len(splits) != 2 or not test_counts:
        return []
    return [splits[1] / c for c, n in test_counts.items() if n == 0]


def folder_train_counts(data_dir, test_fraction: float, exact: bool = False) -> dict[str, int] | None:
    """Each class's training images in a folder dataset, read from its directory alone: its train/ images, or, with
    no train/ and test/, all but the stratified test share: at most n - floor(n * test_fraction), or with `exact`
    the split's own count (it imports scikit-learn, a second on every snakemake call). None where data_dir is no
    folder. What the config check holds validation_per_class and the grid's sizes against."""
    root = Path(data_dir) if data_dir else None
    if root is None or not root.is_dir():
        return None
    splits = folder_splits(root)
    counts = class_image_counts(splits[0])
    if len(splits) == 2:
        return counts
    if not exact or min(counts.values(), default=0) < 2:  # too few to split: prepare names the class
        return {c: n - math.floor(n * test_fraction) for c, n in counts.items()}
    import numpy as np

    labels = np.repeat(np.arange(len(counts)), list(counts.values()))  # the split's counts depend on these alone
    train = stratified_split(labels, test_fraction, root)[0]
    return dict(zip(counts, np.bincount(labels[train], minlength=len(counts)).tolist()))


def manifest(name: str, data_dir=None, cache_dir=CACHE_DIR) -> dict:
    """What `prepare` would read for this dataset: every source file's [path, size, mtime_ns].

    A folder dataset lists every non-hidden file under data_dir; an IDX dataset the four files of the first
    folder in the search order that holds them (none: the download will fill the cache). Contents are not
    hashed: stat() keeps this cheap enough to run on every snakemake call.
    """
    if name == "folder":
        root = Path(data_dir) if data_dir else None
        if root is None or not root.is_dir():
            return {"dataset": name, "root": str(root), "files": None}
        return {"dataset": name, "root": str(root.resolve()), "files": [_stat_file(path, "/".join(parts))
                                                                          for parts, path in _visible(root)]}
    if name in TORCHVISION:
        folder, found = idx_source(name, data_dir, cache_dir)
        if found is None:
            return {"dataset": name, "root": None, "files": None}
        return {"dataset": name, "root": str(folder.resolve()), "files": [_stat(p, folder) for p in found.values()]}
    try:  # embedded (digits): the package that ships it
        from importlib.metadata import version

        return {"dataset": name, "scikit-learn": version("scikit-learn")}
    except Exception:  # noqa: BLE001 - no sklearn: prepare reports it
        return {"dataset": name}


def _stats(content: dict | None) -> dict | None:
    """A manifest without its hashes: what a snakemake call compares (stat() only, no file read)."""
    return None if content is None else {k: v for k, v in content.items() if k != "sha256"}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def with_hashes(content: dict, previous: dict | None = None) -> dict:
    """`content` with each listed file's SHA-256 (key `sha256`, by path below the root). A file whose
    [path, size, mtime] is unchanged since the manifest `previous` keeps its hash there, so adding one image
    to a large folder reads one image."""
    content = _stats(content)
    if not content.get("files"):
        return content
    reuse = {}
    if previous and previous.get("root") == content["root"]:
        known = previous.get("sha256") or {}
        reuse = {tuple(e): known[e[0]] for e in previous.get("files") or [] if e[0] in known}
    root = Path(content["root"])
    return {**content, "sha256": {e[0]: reuse.get(tuple(e)) or _sha256(root / e[0]) for e in content["files"]}}


def only_touched(old: dict | None, new: dict) -> bool:
    """Whether the hashed manifest `new` lists the same files, sizes and SHA-256s as `old`: the files were
    touched or copied (new modification times, perhaps another folder), not changed."""
    if not old or not old.get("sha256") or not old.get("files") or not new.get("files"):
        return False
    return (old.get("dataset") == new.get("dataset") and old["sha256"] == new["sha256"]
            and [e[:2] for e in old["files"]] == [e[:2] for e in new["files"]])


def read_manifest(path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_manifest(path, content: dict, older_than=None, keep_time: bool = False) -> None:
    """Write a manifest atomically. With `older_than`, date it just before that file (a cache it describes);
    with `keep_time`, keep the existing file's date (its sources were touched, not changed: nothing is stale)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content, indent=0) + "\n")
    stamp = Path(older_than).stat().st_mtime_ns - 1_000_000_000 if older_than is not None else None
    if keep_time and path.exists():
        stamp = path.stat().st_mtime_ns
    if stamp is not None:
        os.utime(tmp, ns=(stamp, stamp))
    os.replace(tmp, path)


def check_same_folder_dataset(path, content: dict, cache, results: str) -> None:
    """Refuse to point a results folder that holds one folder dataset's results at another's images: prepare
    would read the new folder and every cell would be recomputed over the old results. The same files moved or
    copied elsewhere (same names and sizes) are the same dataset; `track_source` then compares their content."""
    old = read_manifest(path)
    if (not Path(cache).exists() or not old or old.get("dataset") != "folder" or content.get("dataset") != "folder"
            or not old.get("files") or not content.get("files") or old.get("root") == content.get("root")):
        return
    if [e[:2] for e in old["files"]] == [e[:2] for e in content["files"]]:
        return
    suggest = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(content["root"]).name).lstrip("._-") or "mine"
    raise GenaugError(
        f"data_dir: {content['root']} ({len(content['files'])} files) is another folder dataset than the one whose "
        f"results are in {results}/ ({old['root']}, {len(old['files'])} files); running would replace them. Keep "
        f"both: set folder.name (e.g. folder.name: {suggest}) to put this dataset's results in "
        f"results/{suggest}/. Or delete {results}/ to replace them")


def _lists_nothing(content: dict) -> bool:
    """Whether a manifest of files lists none: the source is gone, or a mount point whose drive is not mounted."""
    return "files" in content and not content["files"]


def check_source_present(content: dict, cache) -> None:
    """Refuse a folder dataset whose folder is missing or empty before any job, unless its cache holds what it read
    (a drive not mounted: the cells that read the cache can still run)."""
    if content.get("dataset") != "folder" or not _lists_nothing(content) or Path(cache).exists():
        return
    root = content["root"]
    state = "holds no files" if Path(root).is_dir() else "is not a directory"
    raise GenaugError(f"data_dir: {root} {state}; a folder dataset reads data_dir/<class>/*.png (or "
                      f"data_dir/train/<class>/ and data_dir/test/<class>/). Fix the path, or mount the drive that "
                      f"holds it")


def cache_is_tracked(cache) -> bool:
    """Whether a dataset cache was built with a manifest (older caches were not: see track_source)."""
    try:
        with zipfile.ZipFile(cache) as z:
            return "manifest.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def track_source(path, content: dict, cache, write: bool = True) -> bool:
    """Keep the manifest file at `path` equal to `content` and say whether `prepare` should depend on it.

    Rewritten only when the source changed, so its modification time moves (and Snakemake reruns prepare
    and everything after it) exactly when a source file was added, removed or replaced. A file with a new
    modification time is hashed: if every file still has its recorded SHA-256 (touched, copied again, or the
    same files in another folder) the manifest is updated and keeps its date. A source that lists no files now (an
    unmounted drive, a deleted folder) keeps the manifest: rewriting it would rerun every cell once it is back.
    A cache built before manifests existed is trusted, not rebuilt (that would rerun a whole grid): it gets no
    dependency, and a warning says how to rebuild it. A deleted manifest beside a tracked cache is restored,
    dated before it.
    """
    path, cache = Path(path), Path(cache)
    if cache.exists() and not cache_is_tracked(cache):
        print(f"genaug: {cache} predates source tracking, so changes to the dataset's files are not noticed; "
              f"`snakemake --forcerun prepare` rebuilds it (and reruns every cell)", file=sys.stderr)
        return False
    if write:
        old = read_manifest(path)
        if _lists_nothing(content) and old and old.get("files"):
            print(f"genaug: {content['root']} lists none of the {len(old['files'])} files of dataset "
                  f"{content['dataset']!r} now (a drive not mounted?): the record of them is kept, so nothing reruns "
                  f"for it; the cells read its cache {cache}", file=sys.stderr)
            return True
        if _stats(old) == _stats(content):
            if content.get("files") and not old.get("sha256"):  # written before hashes: add them, same date
                write_manifest(path, with_hashes(content), keep_time=True)
            return True
        new = with_hashes(content, old)
        if only_touched(old, new):
            print(f"genaug: the files of dataset {content['dataset']!r} in {content['root']} have new modification "
                  f"times but the same content (SHA-256): the manifest keeps its date, so they are not read again",
                  file=sys.stderr)
            write_manifest(path, new, keep_time=True)
        else:
            write_manifest(path, new, older_than=cache if old is None and cache.exists() else None)
    return True


# Synthetic images made elsewhere (family `images`, generators/images.py): one pool for every cell, or one per cell.
POOL_LAYOUTS = ("shared", "per_cell")


def pool_source(path, layout: str, regime: str, size: str, seed: int) -> Path:
    """Where a cell's pool is read from: <path>, or <path>/<regime>/<size>/s<seed> (a folder, else that .npz)."""
    root = Path(path)
    if layout == "shared":
        return root
    cell = root / regime / size / f"s{seed}"
    return cell.with_suffix(".npz") if not cell.exists() and cell.with_suffix(".npz").exists() else cell


def pool_files(path, layout: str, regime: str, size: str, seed: int) -> list[Path]:
    """The files a cell's pool is read from: its train_gen job's inputs, so a changed pool is read again."""
    src = pool_source(path, layout, regime, size, seed)
    return visible_files(src) if src.is_dir() else [src]
