"""Generators through the registry, parametrized over every registered family, on real digits."""

import numpy as np
import pytest
import torch

from genaug import generators as gens
from genaug.data import to_float, to_uint8
from genaug.errors import GenaugError
from genaug.generators.base import Generator, fit
from genaug.labels import synthesize, synthetic_counts

STRATEGIES = {"per_class": {"per_class": True}, "reconstruct": {"label_strategy": "reconstruct"}}


def spec_for(family, strategy, steps=150):
    return {"name": f"{family}_{strategy}", "family": family, "hparams": {}, **STRATEGIES[strategy],
            "train": {"steps": steps, "batch_size": 32, "lr": 2e-3}}


def real_subset(digits, per_class=12):
    idx = np.concatenate([np.flatnonzero(digits.train_y.numpy() == c)[:per_class] for c in range(10)])
    return to_float(digits.train_x[idx]), digits.train_y[idx]


CASES = [(f, s) for f in gens.FAMILIES for s in STRATEGIES
         if s != "reconstruct" or gens.FAMILIES[f].can_reconstruct]


@pytest.fixture(scope="module")
def trained(digits):
    """One trained model per (family, strategy), with its loss log."""
    out = {}
    x, y = real_subset(digits)
    for family, strategy in CASES:
        # One model on all classes needs longer than ten models on one class each.
        spec = spec_for(family, strategy, steps=600 if strategy == "reconstruct" else 150)
        torch.manual_seed(0)
        model = gens.build(spec, digits.image_shape, 10)
        history = gens.train(model, x, y, spec["train"], seed=0, log=open("/dev/null", "w"))
        out[family, strategy] = (spec, model, history)
    return out


@pytest.mark.parametrize("family,strategy", CASES)
def test_loss_falls(trained, family, strategy):
    _, _, history = trained[family, strategy]
    if strategy == "per_class":
        for c in range(10):
            rows = [r for r in history if r["class"] == c]
            assert rows[-1]["loss"] < 0.8 * rows[0]["loss"], f"class {c}"
    else:
        assert history[-1]["loss"] < 0.8 * history[0]["loss"]


@pytest.mark.parametrize("family,strategy", CASES)
@pytest.mark.parametrize("policy,kwargs", [("match", {}), ("balance", {}), ("per_class", {"per_class": 7}),
                                           ("ratio", {"ratio": 0.5})])
def test_samples_have_shape_range_and_per_class_counts(trained, digits, family, strategy, policy, kwargs):
    spec, model, _ = trained[family, strategy]
    x, y = real_subset(digits)
    real_counts = np.array([12, 12, 3, 12, 12, 12, 5, 12, 12, 12])
    keep = torch.cat([torch.nonzero(y == c).flatten()[:n] for c, n in enumerate(real_counts)])
    counts = synthetic_counts(real_counts, policy, **kwargs)
    images, labels = synthesize(model, gens.label_strategy(spec), counts, x[keep], y[keep], seed=1)
    assert images.shape == (counts.sum(), 1, 28, 28) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert np.bincount(labels.numpy(), minlength=10).tolist() == counts.tolist()
    assert to_uint8(images).dtype == torch.uint8


def test_policies_count_as_documented():
    real = [100, 20, 50]
    assert synthetic_counts(real, "match").tolist() == [100, 20, 50]
    assert synthetic_counts(real, "balance").tolist() == [0, 80, 50]
    assert synthetic_counts(real, "per_class", per_class=30).tolist() == [30, 30, 30]
    assert synthetic_counts(real, "ratio", ratio=0.5).tolist() == [50, 10, 25]
    with pytest.raises(GenaugError, match="unknown policy"):
        synthetic_counts(real, "double")


@pytest.mark.parametrize("family", [f for f in gens.FAMILIES if gens.FAMILIES[f].can_reconstruct])
def test_reconstruct_keeps_labels_and_resembles_its_class(trained, digits, family):
    spec, model, _ = trained[family, "reconstruct"]
    x, y = real_subset(digits)
    images, labels = synthesize(model, "reconstruct", np.full(10, 12), x, y, seed=2)
    nearest = torch.cdist(images.flatten(1), x.flatten(1)).argmin(1)
    assert (y[nearest] == labels).float().mean() > 0.8


@pytest.mark.parametrize("family", list(gens.FAMILIES))
def test_per_class_models_specialise_in_their_class(trained, digits, family):
    _, model, _ = trained[family, "per_class"]
    x, y = real_subset(digits)
    with torch.no_grad():
        own = [model.models[c].loss(x[y == c], y[y == c])[0].item() for c in range(10)]
        other = [model.models[(c + 1) % 10].loss(x[y == c], y[y == c])[0].item() for c in range(10)]
    assert all(a < b for a, b in zip(own, other))


@pytest.mark.parametrize("family", list(gens.FAMILIES))
def test_per_class_refuses_a_class_it_never_saw(digits, family, quiet):
    spec = spec_for(family, "per_class", steps=5)
    x, y = real_subset(digits)
    keep = y != 3
    model = gens.build(spec, digits.image_shape, 10)
    gens.train(model, x[keep], y[keep], spec["train"], seed=0, log=quiet)
    with pytest.raises(GenaugError, match="no real image of class 3"):
        synthesize(model, "per_class", np.ones(10, dtype=int), x, y, seed=0)


@pytest.mark.parametrize("family,strategy", CASES)
def test_checkpoint_roundtrip_reproduces_samples(trained, digits, tmp_path, family, strategy):
    spec, model, history = trained[family, strategy]
    meta = {"image_shape": list(digits.image_shape), "num_classes": 10}
    gens.save(tmp_path / "m.pt", model, spec, meta, history)
    loaded, ckpt = gens.load(tmp_path / "m.pt")
    x, y = real_subset(digits)
    counts = np.full(10, 4)
    a, _ = synthesize(model, gens.label_strategy(spec), counts, x, y, seed=9)
    b, _ = synthesize(loaded, gens.label_strategy(spec), counts, x, y, seed=9)
    assert torch.equal(a, b) and ckpt["history"] == history and ckpt["spec"] == spec


def test_unreadable_checkpoint_is_named(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"nope")
    with pytest.raises(GenaugError, match="m.pt: not a readable generator checkpoint"):
        gens.load(tmp_path / "m.pt")


def test_bad_label_strategy_combinations_are_refused():
    with pytest.raises(GenaugError, match="unconditional: set per_class"):
        gens.label_strategy({"family": "vae"})
    with pytest.raises(GenaugError, match="cannot use label_strategy: conditional"):
        gens.label_strategy({"family": "vae", "label_strategy": "conditional"})
    with pytest.raises(GenaugError, match="unknown generator family"):
        gens.label_strategy({"family": "gan9000", "per_class": True})


class Exploding(Generator):
    def __init__(self):
        super().__init__((1, 4, 4), 2)
        self.w = torch.nn.Parameter(torch.ones(1))

    def loss(self, x, y):
        return self.w * float("nan"), {}


def test_a_diverging_generator_stops_loudly(quiet):
    with pytest.raises(GenaugError, match="diverged: non-finite loss"):
        fit(Exploding(), torch.rand(8, 1, 4, 4), torch.zeros(8, dtype=torch.long), steps=10, batch_size=4,
            lr=1e-3, seed=0, log=quiet)
