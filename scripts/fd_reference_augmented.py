#!/usr/bin/env python3
"""Is a generator's domain FD an artefact of the reference network's sensitivity to shifts?

    python scripts/fd_reference_augmented.py results/fashion_mnist --out fd_augmented.json \\
        [--epochs 5] [--validation-per-class 100]

The reference cnn trains on centred images without augmentation, so its features move when a real image moves
by one pixel (the `shift1` yardstick is about 11x the floor on Fashion-MNIST). This trains a second reference as
the `reference` stage does (same seed and images; give the grid's validation_per_class and
gen_metrics.reference_epochs where they are not the defaults), but with the classic arm's random shifts of up to
2 pixels and, where the dataset is mirror-safe (config.flip_for), flips. Under both networks it scores the floor,
every FD yardstick and every metric set in RESULTS (each generator's fresh draw at the reference's count per
class), and writes each set's domain FD over the floor. If a generator's ratio falls as the shift yardsticks' do,
its FD was mostly misplacement; if not, the gap is in the images.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from genaug.augment import ClassicAugment
from genaug.config import config_default, flip_for
from genaug.data import load_dataset
from genaug.gen_metrics import first_per_class, load_reference, reference_draws
from genaug.io import write_json
from genaug.metrics import features, frechet_distance, reference_classifier
from genaug.stages import load_synthetic
from genaug.subsets import validation_indices
from genaug.yardsticks import describe, score_yardsticks


def ratios(net, ds, ref, floors, sets: dict) -> dict:
    """Floor, yardsticks and each set's domain FD over the floor under `net`."""
    real = features(net, ds.test_x[torch.from_numpy(ref)]).astype(np.float64)
    pairs = [(ds.test_x[torch.from_numpy(f)], ds.test_y[torch.from_numpy(f)]) for f in floors]
    floor = float(np.mean([frechet_distance(real, features(net, x).astype(np.float64)) for x, _ in pairs]))
    sticks = {k: v["ratio"] for k, v in score_yardsticks(net, real, pairs, floor).items()}
    return {"floor": floor, "yardsticks": sticks,
            "sets": {k: frechet_distance(real, features(net, x).astype(np.float64)) / floor for k, x in sets.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="a grid's results/<dataset> folder, its reference made")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=config_default("gen_metrics.reference_epochs"))
    ap.add_argument("--validation-per-class", type=int, default=config_default("validation_per_class"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ds = load_dataset(args.results / "dataset.npz")
    plain, _ = load_reference(args.results / "reference" / "classifier.pt", "cpu")
    n, ref, floors = reference_draws(ds, int(np.load(args.results / "reference" / "features.npz")["per_class"]))
    sets = {}
    for path in sorted((args.results / "metric_sets").rglob("*.npz")):
        images, labels, _ = load_synthetic(path, ds.image_shape, ds.num_classes)
        pick, short = first_per_class(labels, n, ds.num_classes)
        if not short:
            sets[str(path.relative_to(args.results / "metric_sets"))] = images[pick]
    val = validation_indices(ds.train_y.numpy(), args.validation_per_class, ds.num_classes)
    augment = ClassicAugment(shift=2, flip=flip_for("auto", ds.name), erase_p=0.0)
    shifted, accuracy = reference_classifier(ds, val, device=torch.device("cpu"), epochs=args.epochs, augment=augment)
    out = {"per_class_count": n, "augmented_test_accuracy": accuracy, "plain": ratios(plain, ds, ref, floors, sets),
           "augmented": ratios(shifted.eval(), ds, ref, floors, sets)}
    write_json(args.out, out)
    print(f"reference trained with shifts <= 2 px and flips: test accuracy {accuracy:.4f}")
    print(f"{'set':52s} {'plain':>8s} {'shifts+flips':>13s}")
    print(f"{'floor (domain FD)':52s} {out['plain']['floor']:8.3f} {out['augmented']['floor']:13.3f}")
    for group in ("yardsticks", "sets"):
        for key in out["plain"][group]:
            name = describe(key) if group == "yardsticks" else key
            print(f"{name:52s} {out['plain'][group][key]:8.2f} {out['augmented'][group][key]:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
