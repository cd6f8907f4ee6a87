"""Time what every snakemake call spends on a large folder dataset: listing it (its source manifest), the config
check's count of each class's images, and a whole `snakemake -n` of the default grid over it.

    python scripts/bench_folder_listing.py --images 70000 --out folder_listing.json [--folder DIR] [--repeats 3]

Writes N small PNGs in 10 classes (train/ and test/) into a temp folder unless --folder names one. Run it in a
worktree of each commit to compare: it times the code of the checkout it lives in.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))


def write_pngs(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / ("test" if i % 7 == 0 else "train") / f"class{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(d / f"{i:06d}.png")


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(min(times), 3)


def dry_run_s(folder: Path, repeats: int, sizes: list[int] | None) -> float:
    """A whole `snakemake -n` of the default grid (or its regimes at `sizes`) over the folder, in a scratch copy of
    the workflow's files."""
    from genaug.sources import folder_class_names

    minority = folder_class_names(folder)[0]
    with tempfile.TemporaryDirectory(prefix="genaug-listing-run-") as d:
        for name in ("Snakefile", "config.yaml", "workflow", "profiles"):
            src = REPO / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, Path(d) / name)
        cmd = [shutil.which("snakemake") or "snakemake", "-n", "--quiet", "--config", "dataset=folder",
               f"data_dir={folder}", f"regimes={{semi_balanced: {{minority_classes: ['{minority}']}}}}",
               "validation_per_class=5",
               *([f"grid={{sizes: {sizes}}}"] if sizes else [])]
        first = subprocess.run(cmd, cwd=d, capture_output=True, text=True)  # writes the manifest (hashes) once
        if first.returncode:
            raise SystemExit(f"snakemake -n failed:\n{first.stdout[-2000:]}{first.stderr[-2000:]}")
        return best_of(repeats, lambda: subprocess.run(cmd, cwd=d, check=True, capture_output=True))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=70000)
    p.add_argument("--folder", type=Path, help="an existing folder dataset to time instead of writing one")
    p.add_argument("--repeats", type=int, default=3, help="each time is the best of this many")
    p.add_argument("--sizes", type=int, nargs="+", help="grid.sizes of the dry run (default: config.yaml's), for a "
                   "folder too small for them")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    from genaug import sources
    from genaug.device import cpu_name

    with tempfile.TemporaryDirectory(prefix="genaug-listing-") as d:
        folder = args.folder or Path(d) / "imgs"
        if args.folder is None:
            write_pngs(folder, args.images)
        files = len(sources.manifest("folder", folder)["files"])
        result = {"files": files, "manifest_s": best_of(args.repeats, lambda: sources.manifest("folder", folder)),
                  "class_counts_s": best_of(args.repeats, lambda: sources.folder_train_counts(folder, 0.2)),
                  "snakemake_dry_run_s": dry_run_s(folder, args.repeats, args.sizes)}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    result.update({"commit": commit.stdout.strip(), "cpu": cpu_name(), "cores": os.cpu_count(),
                   "python": platform.python_version(), "repeats": args.repeats, "sizes": args.sizes})
    tmp = Path(f"{args.out}.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, args.out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
