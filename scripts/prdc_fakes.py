#!/usr/bin/env python3
"""What sets no generator should pass score on a finished run's reference: PRDC's blind spots.

    python scripts/prdc_fakes.py results/<dataset> [--json out.json]

Scores, against the run's reference draw and with the run's own scoring (gen_metrics.score_set), sets of the
reference's size and class balance that are worthless as training data: uniform pixel noise, blank images,
and a collapsed set (one unseen real test image a class, repeated). Beside them, the run's floor (real images).
Precision counts a set's images inside some real image's k-NN ball, so a set that sits in one well-covered
spot can score as high as real images; coverage and recall drop to about 0 for such sets.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from genaug.data import load_dataset
from genaug.gen_metrics import load_reference, score_set

KEYS = ("domain_fd", "precision", "recall", "density", "coverage", "label_agreement")


def fakes(test_x: np.ndarray, test_y: np.ndarray, labels: np.ndarray, used: np.ndarray, seed: int = 0) -> dict:
    """The worthless sets, one image for each reference image (same labels, so the same class balance)."""
    rng = np.random.default_rng(seed)
    shape = (len(labels), *test_x.shape[1:])
    unseen = np.setdiff1d(np.arange(len(test_y)), used)
    one = {c: unseen[test_y[unseen] == c][0] for c in np.unique(labels)}
    return {"uniform noise": rng.integers(0, 256, shape, dtype=np.uint8),
            "blank (all 0)": np.zeros(shape, dtype=np.uint8),
            "collapsed (one real image a class)": test_x[[one[c] for c in labels]]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a run's results/<dataset> (dataset.npz and reference/)")
    p.add_argument("--json", type=Path, help="also write the scores here")
    a = p.parse_args(argv)
    net, _ = load_reference(a.results / "reference" / "classifier.pt", torch.device("cpu"))
    ref = np.load(a.results / "reference" / "features.npz")
    real, labels = ref["features"].astype(np.float64), ref["labels"]
    ds = load_dataset(a.results / "dataset.npz")
    floor = json.loads((a.results / "reference" / "floor.json").read_text())
    out = {"results": str(a.results), "per_class_count": floor["per_class_count"],
           "reference_test_accuracy": float(ref["test_accuracy"]),
           "floor": {k: floor.get(k) for k in KEYS}, "sets": {}}
    print(f"{a.results}: {floor['per_class_count']} images a class, reference test accuracy "
          f"{out['reference_test_accuracy']:.3f}\n  floor (real): {out['floor']}")
    sets = fakes(ds.test_x.numpy(), ds.test_y.numpy(), labels, ref["indices"])
    for name, images in sets.items():
        scores = score_set(net, real, labels, torch.as_tensor(images), torch.as_tensor(labels))
        out["sets"][name] = {k: round(float(scores[k]), 4) for k in KEYS}
        print(f"  {name}: {out['sets'][name]}", flush=True)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
