#!/usr/bin/env python3
"""How much sampled sets copy their generator's training images (genaug.metrics.NearCopies).

    python scripts/near_copies.py results/fashion_mnist balanced/n1000/s0 \\
        results/fashion_mnist/metric_sets/cddpm@*/balanced/n1000/s0.npz [--json out.json]

For each set (an .npz with `images`, as metric_sets/ and bench_samplers/ hold them): the share of its images
nearer, in pixels, to one of the cell's training images than 95 % of held-out real test images are. About 0.05
means new images; far above it, copies. A low FD from a copying generator says little about new images.
Smooth images sit near every image in pixels, so where the test split allows, also the median of each image's
nearest-training over nearest-unseen distance (unseen: other test images, as many a class as the training
set has): about 1 for new images, below 1 for images nearer to the training set than to other real images.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from genaug.data import load_dataset
from genaug.errors import GenaugError
from genaug.metrics import NearCopies
from genaug.subsets import Subset


def _unseen(test_x: torch.Tensor, per: dict, train_labels: np.ndarray, skip: int):
    """Test images past the held-out ones, as many of each class as the training set has; None (with a note)
    when the test split is too small for that."""
    want = {c: int((train_labels == c).sum()) for c in per}
    if any(len(per[c]) < skip + n for c, n in want.items()):
        print("near_copies: the test split has too few images for an unseen set the size of the training set; "
              "no distance ratio", file=sys.stderr)
        return None
    return test_x[np.concatenate([per[c][skip:skip + n] for c, n in want.items()])]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a dataset's results folder (holds dataset.npz and subsets/)")
    p.add_argument("cell", help="the generator's training cell, REGIME/SIZE/sSEED (e.g. balanced/n1000/s0)")
    p.add_argument("sets", nargs="+", type=Path, help="sampled sets (.npz with an `images` array)")
    p.add_argument("--held-out-per-class", type=int, default=100, help="test images a class (default 100)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    try:
        ds = load_dataset(args.results / "dataset.npz")
        idx = Subset.load(args.results / f"subsets/{args.cell}.npz").indices
        ty = ds.test_y.numpy()
        per = {c: np.flatnonzero(ty == c) for c in np.unique(ty)}
        held = ds.test_x[np.concatenate([i[:args.held_out_per_class] for i in per.values()])]
        unseen = _unseen(ds.test_x, per, ds.train_y.numpy()[idx], args.held_out_per_class)
        score = NearCopies(ds.train_x[idx], held, unseen=unseen)
        rows = {}
        for f in args.sets:
            with np.load(f) as z:
                r = rows[str(f)] = score(z["images"])
            ratio = (f"; nearest-training / nearest-unseen distance {r['ratio']:.2f} vs {r['held_out_ratio']:.2f} "
                     "for real" if "ratio" in r else "")
            print(f"{f}: near-copy share {r['share']:.3f} (held-out real: {r['quantile']:.2f} by construction); "
                  f"median nearest-training distance {r['median']:.2f} vs {r['held_out_median']:.2f} for real{ratio}")
    except (OSError, KeyError, GenaugError) as err:
        print(f"near_copies: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
