#!/usr/bin/env python3
"""How much sampled sets copy their generator's training images (genaug.metrics.near_copies).

    python scripts/near_copies.py results/fashion_mnist balanced/n1000/s0 \\
        results/fashion_mnist/metric_sets/cddpm@*/balanced/n1000/s0.npz [--json out.json]

For each set (an .npz with `images`, as metric_sets/ and bench_samplers/ hold them): the share of its images
nearer, in pixels, to one of the cell's training images than 95 % of held-out real test images are. About 0.05
means new images; far above it, copies. A low FD from a copying generator says little about new images.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from genaug.errors import GenaugError
from genaug.metrics import near_copies


def _floats(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) / 255 if a.dtype == np.uint8 else a.astype(np.float64)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a dataset's results folder (holds dataset.npz and subsets/)")
    p.add_argument("cell", help="the generator's training cell, REGIME/SIZE/sSEED (e.g. balanced/n1000/s0)")
    p.add_argument("sets", nargs="+", type=Path, help="sampled sets (.npz with an `images` array)")
    p.add_argument("--held-out-per-class", type=int, default=100, help="test images a class (default 100)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    try:
        with np.load(args.results / "dataset.npz") as d, np.load(args.results / f"subsets/{args.cell}.npz") as s:
            train = _floats(d["train_x"][s["indices"]])
            ty = d["test_y"]
            held = np.concatenate([np.flatnonzero(ty == c)[:args.held_out_per_class] for c in np.unique(ty)])
            held = _floats(d["test_x"][held])
        rows = {}
        for f in args.sets:
            with np.load(f) as z:
                rows[str(f)] = near_copies(_floats(z["images"]), train, held)
            r = rows[str(f)]
            print(f"{f}: near-copy share {r['share']:.3f} (held-out real: {r['quantile']:.2f} by construction); "
                  f"median nearest-training distance {r['median']:.2f} vs {r['held_out_median']:.2f} for real")
    except (OSError, KeyError, GenaugError) as err:
        print(f"near_copies: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
