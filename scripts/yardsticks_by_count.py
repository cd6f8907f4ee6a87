#!/usr/bin/env python3
"""How the FD yardsticks' distance from the floor grows with the count per class, on a finished run's reference.

    python scripts/yardsticks_by_count.py results/<dataset> --counts 5,10,25,50,100 [--json out.json]

At each count: the reference and floor draws the workflow would take from the test split at that
gen_metrics.per_class (subsets.metric_reference_indices), the floor's domain FD (mean of its draws) and every
yardstick's FD over it (yardsticks.score_yardsticks), with the run's reference network. A domain FD between
two sets of n images carries a bias of order 1/n, so the floor shrinks with the count while a yardstick's
true distance stays: the ratio grows with the count. Where it is near 1, the metrics cannot
tell altered real images from real ones at that count, let alone one generator from another.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from genaug.data import load_dataset
from genaug.gen_metrics import load_reference
from genaug.metrics import features, frechet_distance
from genaug.subsets import metric_reference_indices
from genaug.yardsticks import YARDSTICKS, score_yardsticks


def at_count(net, ds, count: int) -> dict:
    """The floor and the yardsticks' ratios at `count` images a class."""
    ref, floors = metric_reference_indices(ds.test_y.numpy(), count, ds.num_classes)
    real = features(net, ds.test_x[torch.from_numpy(ref)]).astype(np.float64)
    pairs = [(ds.test_x[torch.from_numpy(f)], ds.test_y[torch.from_numpy(f)]) for f in floors]
    fds = [frechet_distance(real, features(net, images).astype(np.float64)) for images, _ in pairs]
    floor = float(np.mean(fds))
    sticks = score_yardsticks(net, real, pairs, floor)
    return {"count": count, "floor_draws": len(fds), "floor_domain_fd": floor,
            "ratios": {k: round(v["ratio"], 3) for k, v in sticks.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a run's results/<dataset> (dataset.npz and reference/)")
    p.add_argument("--counts", default="5,10,25,50,100", help="images a class, comma-separated")
    p.add_argument("--json", type=Path, help="also write the rows here")
    a = p.parse_args(argv)
    counts = [int(c) for c in a.counts.split(",")]
    net, _ = load_reference(a.results / "reference" / "classifier.pt", torch.device("cpu"))
    ds = load_dataset(a.results / "dataset.npz")
    smallest = int(np.bincount(ds.test_y.numpy(), minlength=ds.num_classes).min())
    if max(counts) * 2 > smallest:
        p.error(f"--counts: the test split's smallest class has {smallest} images; the largest count is "
                f"{smallest // 2} (a reference and a floor draw)")
    rows = []
    print("count  floor FD  " + "  ".join(YARDSTICKS))
    for count in counts:
        rows.append(at_count(net, ds, count))
        r = rows[-1]
        print(f"{count:5d}  {r['floor_domain_fd']:8.3f}  " + "  ".join(f"{r['ratios'][k]:.2f}" for k in YARDSTICKS),
              flush=True)
    if a.json:
        a.json.write_text(json.dumps({"results": str(a.results), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
