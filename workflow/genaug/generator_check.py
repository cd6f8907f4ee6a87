"""`genaug check-generator`: the behavioural checks a generator must pass before a grid judges it.

Run on scikit-learn's digits (embedded, so it works offline), in seconds to a minute on a CPU core, for a
built-in family or a user's class by import path (docs/plugins.md). Each check is a row of the table, with
the reason when it fails; the exit status is 1 when any failed.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import config as gcfg
from . import families
from . import generators as gens
from .checkpoint import Snapshots
from .data import load_source, to_float
from .errors import Diverged, GenaugError
from .labels import requested_labels, synthesize
from .metrics import frechet_distance

PER_CLASS_TRAIN, PER_CLASS_SAMPLE = 40, 20  # real images per class to train on; synthetic ones to inspect
MIN_LABEL_ACCURACY = 0.3  # a real-data classifier must find the asked class this often: 3x chance (10 classes)


@dataclass
class Check:
    name: str
    result: str  # pass | FAIL | skip
    detail: str = ""


class _Killed(Exception):
    """Stands in for a kill right after a training snapshot is written."""


class _KilledAfterFirst(Snapshots):
    def save(self, state: dict) -> None:
        super().save(state)
        raise _Killed(f"killed after the snapshot at step {state['step']}")


def spec_for(target: str, hparams: dict | None = None, *, steps: int, batch_size: int, lr: float | None) -> dict:
    """A model spec for the family: a built-in takes its first preset's settings, a user's class its defaults."""
    family = families.get(target)
    preset = next((dict(p) for p in gcfg.PRESETS.values() if p["family"] == target), {"family": target})
    if family.per_class and "label_strategy" not in preset:
        preset["per_class"] = True
    preset.pop("sampling", None)  # the family's default sampler, at the effort preset's steps
    preset.update(hparams or {})
    preset.update(steps=steps, batch_size=batch_size, **({"lr": lr} if lr else {}))
    preset.setdefault("lr", 1e-3)
    return gcfg.generator_spec({"effort": "paper", "models": {target: preset}}, target)


def _real_classifier(ds):
    """A logistic regression on real pixels: the judge of whether synthetic images show their class."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(ds.train_x.flatten(1).numpy() / 255.0, ds.train_y.numpy())
    return clf, float(clf.score(ds.test_x.flatten(1).numpy() / 255.0, ds.test_y.numpy()))


def _train(spec, shape, x, y, seed, snapshots=None, log=None):
    torch.manual_seed(seed)
    model = gens.build(spec, shape, 10)
    history = gens.train(model, x, y, spec["train"], seed=seed, snapshots=snapshots, log=log)
    return model, history


def _finite(history) -> bool:
    return all(math.isfinite(v) for row in history for v in row.values() if isinstance(v, (int, float)))


DEFAULT_STEPS = 1000  # enough for the conditional built-ins to learn their labels (vqvae: 0.22 at 300, 0.82 at 1000)


def run_checks(target: str, *, hparams: dict | None = None, steps: int = DEFAULT_STEPS, batch_size: int = 32,
               lr: float | None = None, image_size: int = 16, seed: int = 0, log=None) -> list[Check]:
    """Every check, in order; a failure that leaves nothing to check further ends the list early."""
    log = log if log is not None else io.StringIO()
    contract, found = _contract(target, hparams, steps, batch_size, lr)
    if found is None:
        return [contract]
    spec, strategy, own_fit = found
    checks = [contract]
    ds = load_source("digits", image_size=image_size)
    idx = np.concatenate([np.flatnonzero(ds.train_y.numpy() == c)[:PER_CLASS_TRAIN] for c in range(10)])
    x, y = to_float(ds.train_x[idx]), ds.train_y[idx]
    shape = tuple(x.shape[1:])
    trained = _build_and_train(spec, shape, x, y, seed, steps, log, checks)
    if trained is None:
        return checks
    untrained, model, history = trained
    checks.append(_guarded("loss falls", _loss_falls, untrained, history, own_fit))
    judge, judge_acc = _real_classifier(ds)
    labeler = (lambda imgs: torch.from_numpy(judge.predict_proba(imgs.flatten(1).cpu().numpy())).float())
    counts = np.full(10, PER_CLASS_SAMPLE)
    try:
        images, labels = synthesize(model, strategy, counts, x, y, seed=seed, labeler=labeler, threshold=0.0)
    except Exception as err:  # noqa: BLE001
        checks.append(Check("samples: shape, range, per-class counts", "FAIL", f"{type(err).__name__}: {err}"))
        return checks
    checks.append(_samples_ok(images, labels, shape, counts))
    if checks[-1].result == "FAIL":
        return checks
    checks.append(_guarded("learns (pixel Fréchet distance to real images falls)", _learns, untrained, model,
                           strategy, counts, x, y, seed, labeler))
    checks.append(_labels_honoured(strategy, judge, judge_acc, images, labels))
    with tempfile.TemporaryDirectory() as tmp:
        checks.append(_guarded("checkpoint round trip (same samples after save and load)", _round_trip, model,
                               spec, shape, strategy, counts, x, y, seed, labeler, images, Path(tmp)))
        checks.append(_guarded("a killed training resumes to the same weights", _resumes, spec, shape, x, y, seed,
                               model, steps, Path(tmp), log))
    return checks


def _contract(target: str, hparams, steps: int, batch_size: int, lr):
    """The first check (the class imports and follows the contract) and, when it passes, (spec, label strategy,
    whether the class trains itself)."""
    name = "imports and follows the contract"
    try:
        family = families.get(target)
        spec = spec_for(target, hparams, steps=steps, batch_size=batch_size, lr=lr)
        strategy = gens.label_strategy(spec)
    except GenaugError as err:
        return Check(name, "FAIL", str(err)), None
    if not family.trains:
        return Check(name, "FAIL", f"family {target!r} reads images made elsewhere and trains nothing: these checks "
                     "are for generators (a pool is checked when it is read)"), None
    own_fit = family.kind == "plugin" and callable(getattr(family.load(), "fit", None))
    return Check(name, "pass", f"{'conditional' if family.conditional else 'unconditional'}, label strategy "
                 f"{strategy}, {'its own fit' if own_fit else 'shared training loop'}"), (spec, strategy, own_fit)


def _build_and_train(spec: dict, shape, x, y, seed: int, steps: int, log, checks: list[Check]):
    """Build the model and train it, appending each check; (untrained copy, trained model, loss log), or None
    when a failure leaves nothing further to check."""
    try:
        torch.manual_seed(seed)
        untrained = gens.build(spec, shape, 10)
    except Exception as err:  # noqa: BLE001 - a user's constructor may raise anything: report it
        checks.append(Check(f"builds for images {shape} and 10 classes", "FAIL", f"{type(err).__name__}: {err}"))
        return None
    checks.append(Check(f"builds for images {shape} and 10 classes", "pass",
                        f"{sum(p.numel() for p in untrained.parameters()):,} weights"))
    name = f"trains {steps} steps with a finite loss"
    try:
        model, history = _train(spec, shape, x, y, seed, log=log)
    except Diverged as err:
        checks.append(Check(name, "FAIL", str(err)))
        return None
    except Exception as err:  # noqa: BLE001
        checks.append(Check(name, "FAIL", f"{type(err).__name__}: {err}"))
        return None
    if not history or not _finite(history):
        checks.append(Check(name, "FAIL", "the loss log is empty" if not history else "the loss log holds NaN or inf"))
        return None
    checks.append(Check(name, "pass", f"{len(history)} log rows"))
    return untrained, model, history


def _labels_honoured(strategy: str, judge, judge_acc: float, images, labels) -> Check:
    name = "labels honoured (real-data classifier)"
    if strategy == "pseudo_label":
        return Check(name, "skip", "pseudo_label: the labels come from that classifier")
    acc = float((judge.predict(images.flatten(1).cpu().numpy()) == labels.cpu().numpy()).mean())
    return Check(name, "pass" if acc >= MIN_LABEL_ACCURACY else "FAIL",
                 f"{acc:.2f} of synthetic images classified as their label (needs >= {MIN_LABEL_ACCURACY}, 3x "
                 f"chance; the classifier scores {judge_acc:.2f} on real test images)")


def _guarded(name: str, check, *args) -> Check:
    """A check whose code (a user's class's) raised is a failure with the exception, not a traceback."""
    try:
        return check(*args)
    except Exception as err:  # noqa: BLE001
        return Check(name, "FAIL", f"{type(err).__name__}: {err}")


def _loss_falls(untrained, history, own_fit) -> Check:
    name = "loss falls"
    if own_fit:
        return Check(name, "skip", "its own fit: the loss log is the class's own")
    member = untrained.models[0] if isinstance(untrained, gens.PerClass) else untrained
    if len(member.phases()) > 1:
        return Check(name, "skip", "adversarial: its losses need not fall (the 'learns' check stands in)")
    losses = [row["loss"] for row in history]
    k = max(1, len(losses) // 10)
    first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    return Check(name, "pass" if last < first else "FAIL", f"mean of the first tenth {first:.4g}, last {last:.4g}")


def _samples_ok(images, labels, shape, counts) -> Check:
    name = "samples: shape, range, per-class counts"
    n = int(counts.sum())
    if not torch.is_tensor(images) or tuple(images.shape) != (n, *shape):
        got = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        return Check(name, "FAIL", f"asked for {n} images of shape {shape}, got {got}")
    if not torch.isfinite(images).all():
        return Check(name, "FAIL", "images hold NaN or inf")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0 or hi > 1:
        return Check(name, "FAIL", f"pixel values span [{lo:.3g}, {hi:.3g}]; they must lie in [0, 1]")
    got = torch.bincount(labels.cpu(), minlength=len(counts)).numpy()
    if not np.array_equal(got, counts):
        return Check(name, "FAIL", f"asked for {counts.tolist()} per class, got {got.tolist()}")
    return Check(name, "pass", f"{n} images in [{lo:.2f}, {hi:.2f}], {counts[0]} of each class")


def _learns(untrained, model, strategy, counts, x, y, seed, labeler) -> Check:
    """Training moved the samples toward the real images: pixel Fréchet distance before vs after."""
    name = "learns (pixel Fréchet distance to real images falls)"
    if isinstance(untrained, gens.PerClass):
        untrained.trained.fill_(True)  # every class's untrained copy may be sampled
    sets = []
    with torch.no_grad():
        for m in (untrained.eval(), model):
            if strategy == "reconstruct":
                sets.append(synthesize(m, strategy, counts, x, y, seed=seed, labeler=labeler, threshold=0.0)[0])
            else:  # the generator's own draws, whatever a labeler would keep
                sets.append(m.sample(requested_labels(counts), torch.Generator().manual_seed(seed)))
    real = x.flatten(1).cpu().double().numpy()
    fd = [frechet_distance(s.flatten(1).cpu().double().numpy(), real) for s in sets]
    return Check(name, "pass" if fd[1] < fd[0] else "FAIL", f"untrained {fd[0]:.3g}, trained {fd[1]:.3g}")


def _round_trip(model, spec, shape, strategy, counts, x, y, seed, labeler, images, tmp: Path) -> Check:
    name = "checkpoint round trip (same samples after save and load)"
    try:
        gens.save(tmp / "model.pt", model, spec, {"image_shape": list(shape), "num_classes": 10}, [])
        loaded, _ = gens.load(tmp / "model.pt")
        again, _ = synthesize(loaded, strategy, counts, x, y, seed=seed, labeler=labeler, threshold=0.0)
    except Exception as err:  # noqa: BLE001
        return Check(name, "FAIL", f"{type(err).__name__}: {err}")
    if tuple(again.shape) != tuple(images.shape) or not torch.equal(again, images):
        return Check(name, "FAIL", "the reloaded model samples different images from the same seed (state kept "
                                   "outside state_dict, or randomness not drawn from `gen`)")
    return Check(name, "pass", "identical images")


def _resumes(spec, shape, x, y, seed, model, steps, tmp: Path, log) -> Check:
    name = "a killed training resumes to the same weights"
    every = max(1, steps // 3)
    snaps = _KilledAfterFirst(tmp / "snap.pt", every, job="check", log=log)
    try:
        _train(spec, shape, x, y, seed, snapshots=snaps, log=log)
    except _Killed:
        pass
    else:
        return Check(name, "FAIL", f"training never wrote a snapshot (snapshot every {every} steps); a killed job "
                                   "would start over")
    resumed, _ = _train(spec, shape, x, y, seed, snapshots=Snapshots(tmp / "snap.pt", every, job="check", log=log),
                        log=log)
    want, got = model.state_dict(), resumed.state_dict()
    differ = [k for k in want if not torch.equal(want[k], got[k])]
    if differ:
        return Check(name, "FAIL", f"{len(differ)} of {len(want)} tensors differ from uninterrupted training "
                                   f"(e.g. {differ[0]})")
    return Check(name, "pass", f"killed after step {every}, resumed: all {len(want)} tensors identical")


def format_table(target: str, checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"genaug check-generator {target}", f"{'check':<{width}}  result  detail"]
    lines += [f"{c.name:<{width}}  {c.result:<6}  {c.detail}" for c in checks]
    failed = sum(c.result == "FAIL" for c in checks)
    lines.append(f"{failed} of {len(checks)} checks failed" if failed else f"all {len(checks)} checks passed"
                 + (f" ({sum(c.result == 'skip' for c in checks)} skipped)" if any(c.result == "skip" for c in checks)
                    else ""))
    return "\n".join(lines)


def build_parser():
    import argparse
    import json

    p = argparse.ArgumentParser(prog="genaug check-generator", description=__doc__.splitlines()[0])
    p.add_argument("target", help="a family name (cvae, cddpm, ...), an installed entry point, or module:Class")
    p.add_argument("--hparams", type=json.loads, default={}, help='hyperparameters as JSON, e.g. \'{"width": 32}\'')
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"training steps (default {DEFAULT_STEPS})")
    p.add_argument("--batch-size", type=int, default=32, help="training batch (default 32)")
    p.add_argument("--lr", type=float, default=None, help="default: the family's first preset's, else 1e-3")
    p.add_argument("--image-size", type=int, default=16, help="side of the digits images (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, batches and samples (default 0)")
    p.add_argument("--log", default=None, help="training progress goes here (default: discarded)")
    return p


def cli_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    log = open(args.log, "w", buffering=1, encoding="utf-8") if args.log else open("/dev/null", "w")
    with log, contextlib.redirect_stderr(log):
        checks = run_checks(args.target, hparams=args.hparams, steps=args.steps, batch_size=args.batch_size,
                            lr=args.lr, image_size=args.image_size, seed=args.seed, log=log)
    print(format_table(args.target, checks))
    return int(any(c.result == "FAIL" for c in checks))
