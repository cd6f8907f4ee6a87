"""Every registered autoencoder model through the registry, on real digits: training, sampling under
each label strategy and count policy, checkpoints, shapes and channel counts."""

import io
import json

import numpy as np
import pytest
import torch

from genaug import config as gcfg
from genaug import generators as gens
from genaug.data import to_float, to_uint8
from genaug.errors import GenaugError
from genaug.generators.base import Generator, fit
from genaug.generators.corruptions import CORRUPTIONS
from genaug.labels import synthesize, synthetic_counts

from .helpers import DISCARD, check_presets_valid

NAMES = [n for n, e in gcfg.PRESETS.items() if e["family"] in gcfg.AUTOENCODER_FAMILIES]
PER_CLASS_STEPS, ALL_CLASS_STEPS = 150, 600  # one model on all classes needs longer than ten on one each


def spec_for(name, steps=None, **change):
    spec = gcfg.generator_spec({"models": {}, "effort": "paper"}, name)
    per_class = spec["per_class"]
    spec["train"] = {"steps": steps or (PER_CLASS_STEPS if per_class else ALL_CLASS_STEPS),
                     "batch_size": 32 if per_class else 64, "lr": 2e-3}
    spec.update(change)
    return spec


def real_subset(digits, per_class=12):
    idx = np.concatenate([np.flatnonzero(digits.train_y.numpy() == c)[:per_class] for c in range(10)])
    return to_float(digits.train_x[idx]), digits.train_y[idx]


def nearest_centroid_labeler(x, y):
    """A stand-in labelling classifier for unit tests: softmax over negative distances to class means."""
    means = torch.stack([x[y == c].flatten(1).mean(0) for c in range(10)])
    return lambda images: torch.softmax(-torch.cdist(images.flatten(1), means) / 0.5, dim=1)


@pytest.fixture(scope="module")
def trained(digits):
    """One trained model per registered name, with its spec and loss log. Names whose specs differ only in
    the label strategy (used when sampling, not in training) share one training run."""
    out, runs = {}, {}
    x, y = real_subset(digits)
    for name in NAMES:
        spec = spec_for(name)
        key = json.dumps({k: v for k, v in spec.items() if k not in ("name", "label_strategy")}, sort_keys=True)
        if key not in runs:
            torch.manual_seed(0)
            model = gens.build(spec, digits.image_shape, 10)
            runs[key] = model, gens.train(model, x, y, spec["train"], seed=0, log=DISCARD)
        out[name] = (spec, *runs[key])
    return out


def test_every_preset_is_a_valid_model_entry():
    check_presets_valid(NAMES)
    assert gcfg.CORRUPTIONS == CORRUPTIONS  # config.py's torch-free copy names the same six
    assert {f"dvae_{c}" for c in gcfg.CORRUPTIONS} <= set(NAMES)
    assert {"vae", "beta_vae", "conv_vae", "cvae", "vqvae", "vqvae_conv"} <= set(NAMES)


def test_an_entry_named_like_a_preset_replaces_it():
    cfg = {"models": {"vae": {"family": "vae", "label_strategy": "reconstruct", "latent_dim": 5}}, "effort": "paper"}
    spec = gcfg.generator_spec(cfg, "vae")
    assert spec["hparams"] == {"latent_dim": 5} and spec["label_strategy"] == "reconstruct"


@pytest.mark.heavy
@pytest.mark.parametrize("name", NAMES)
def test_loss_falls(trained, name):
    spec, _, history = trained[name]
    if spec["per_class"]:
        for c in range(10):
            rows = [r for r in history if r["class"] == c]
            assert rows[-1]["loss"] < 0.8 * rows[0]["loss"], f"class {c}"
    else:
        assert history[-1]["loss"] < 0.8 * history[0]["loss"]


# (name, strategy): each model's own strategy, plus the others it supports.
CASES = [(n, gens.label_strategy(spec_for(n))) for n in NAMES] + [
    ("vae_recon", "pseudo_label"), ("cvae", "reconstruct"), ("vqvae", "reconstruct"), ("vqvae_conv", "reconstruct"),
]


@pytest.mark.heavy
@pytest.mark.parametrize("name,strategy", CASES)
@pytest.mark.parametrize("policy,kwargs", [("match", {}), ("balance", {}), ("per_class", {"per_class": 7}),
                                           ("ratio", {"ratio": 0.5})])
def test_samples_have_shape_range_and_per_class_counts(trained, digits, name, strategy, policy, kwargs):
    _, model, _ = trained[name]
    x, y = real_subset(digits)
    real_counts = np.array([12, 12, 3, 12, 12, 12, 5, 12, 12, 12])
    keep = torch.cat([torch.nonzero(y == c).flatten()[:n] for c, n in enumerate(real_counts)])
    counts = synthetic_counts(real_counts, policy, **kwargs)
    stats = {}
    images, labels = synthesize(model, strategy, counts, x[keep], y[keep], seed=1, threshold=0.5,
                                labeler=nearest_centroid_labeler(x, y), stats=stats)
    assert images.shape == (counts.sum(), 1, 28, 28) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert np.bincount(labels.numpy(), minlength=10).tolist() == counts.tolist()
    assert (labels.diff() >= 0).all()  # class by class
    assert to_uint8(images).dtype == torch.uint8
    if strategy == "pseudo_label":
        assert stats["made"] == counts.tolist() and stats["drawn"] >= counts.sum()


@pytest.mark.heavy
def test_pseudo_label_keeps_only_confident_images_and_reports_shortfalls(trained, digits):
    _, model, _ = trained["vae_recon"]
    x, y = real_subset(digits)
    labeler = nearest_centroid_labeler(x, y)
    stats = {}
    images, labels = synthesize(model, "pseudo_label", np.full(10, 5), x, y, seed=3, labeler=labeler,
                                threshold=0.6, stats=stats)
    conf, pred = labeler(images).max(1)
    assert (conf >= 0.6).all() and torch.equal(pred, labels)
    assert 0 < stats["acceptance"] <= 1
    # A labeler that is never sure: nothing is kept, every class is reported short, and it stops.
    unsure = lambda images: torch.full((len(images), 10), 0.1)  # noqa: E731
    stats = {}
    images, labels = synthesize(model, "pseudo_label", np.full(10, 5), x, y, seed=3, labeler=unsure,
                                threshold=0.5, max_draws=4000, stats=stats)
    assert len(images) == len(labels) == 0 and stats["short"] == [5] * 10 and stats["drawn"] == 4000
    with pytest.raises(GenaugError, match="needs a labeler"):
        synthesize(model, "pseudo_label", np.full(10, 5), x, y, seed=3)


@pytest.mark.heavy
@pytest.mark.parametrize("name", [n for n, s in CASES if s == "reconstruct"])
def test_reconstruct_keeps_labels_and_resembles_its_class(trained, digits, name):
    _, model, _ = trained[name]
    x, y = real_subset(digits)
    images, labels = synthesize(model, "reconstruct", np.full(10, 12), x, y, seed=2)
    assert torch.equal(labels, torch.arange(10).repeat_interleave(12))
    nearest = torch.cdist(images.flatten(1), x.flatten(1)).argmin(1)
    assert (y[nearest] == labels).float().mean() > 0.8


@pytest.mark.heavy
@pytest.mark.parametrize("name", [n for n in NAMES if gcfg.PRESETS[n]["family"] == "vqvae"])
def test_vqvae_prior_draws_new_codes_that_decode_to_new_images_of_the_class(trained, digits, name):
    _, model, _ = trained[name]
    x, y = real_subset(digits)
    labels = torch.arange(10).repeat_interleave(20)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        codes = model.sample_codes(labels, gen)
        train_codes = model.quantize(model.encode(x))
        images = torch.sigmoid(model.decode_logits(codes))
        copies = torch.sigmoid(model.decode_logits(train_codes))
    # Most sampled code sequences are new: not the code of any training image (on 12 images per
    # class the prior does learn some whole sequences by heart) ...
    copy = (codes[:, None, :] == train_codes[None, :, :]).all(-1).any(1)
    assert copy.float().mean() < 0.2
    # ... and those decode to images unlike every training image, and mostly unlike the decoder's
    # copy of any training image (a sequence one code away from a training one can land close).
    new = images[~copy].flatten(1)
    assert torch.cdist(new, x.flatten(1)).min() > 0.5
    assert torch.cdist(new, copies.flatten(1)).min(1).values.median() > 0.5
    # The prior is per class: most samples lie nearest to a real image of the class they were drawn for.
    nearest = torch.cdist(images.flatten(1), x.flatten(1)).argmin(1)
    assert (y[nearest] == labels).float().mean() > 0.5


@pytest.mark.heavy
def test_beta_anneals_linearly_from_zero_over_its_epochs(trained, digits):
    spec, model, history = trained["beta_vae"]
    member = model.models[0]
    assert member.anneal_epochs == 20 and member.beta == 0.8
    for epoch, beta in [(0, 0.0), (5, 0.2), (10, 0.4), (20, 0.8), (40, 0.8)]:
        member.epoch.fill_(epoch)
        assert member.beta_now().item() == pytest.approx(beta)
    # In training: 12 images per class, batch 32, so class 0 reaches 20 epochs after 8 steps.
    betas = [r["beta"] for r in history if r["class"] == 0]
    assert betas[-1] == pytest.approx(0.8, abs=1e-6)
    assert all(b >= a - 1e-6 for a, b in zip(betas, betas[1:]))
    first = [r for r in history if r["class"] == 0][0]  # the mean over the first log interval
    steps = first["step"]
    expected = np.mean([min(1.0, (s - 1) * 32 / 12 / 20) * 0.8 for s in range(1, steps + 1)])
    assert first["beta"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 28, 28), (1, 32, 32)])
def test_every_model_takes_one_or_three_channels_at_28_and_32(name, shape, quiet):
    spec = spec_for(name, steps=2)
    x = torch.rand(40, *shape)
    y = torch.arange(10).repeat(4)
    model = gens.build(spec, shape, 10)
    gens.train(model, x, y, spec["train"], seed=0, log=quiet)
    strategy = gens.label_strategy(spec)
    sure = lambda im: torch.eye(10)[torch.arange(len(im)) % 10]  # noqa: E731 (a labeler, for pseudo_label)
    images, labels = synthesize(model, strategy, np.full(10, 2), x, y, seed=0, labeler=sure)
    assert images.shape[1:] == shape


@pytest.mark.heavy
@pytest.mark.parametrize("name", [n for n in NAMES if spec_for(n)["per_class"]])
def test_per_class_models_specialise_in_their_class(trained, digits, name):
    _, model, _ = trained[name]
    x, y = real_subset(digits)
    torch.manual_seed(0)
    with torch.no_grad():
        own = [model.models[c].loss(x[y == c], y[y == c])[0].item() for c in range(10)]
        other = [model.models[(c + 1) % 10].loss(x[y == c], y[y == c])[0].item() for c in range(10)]
    assert sum(a < b for a, b in zip(own, other)) >= 9


def test_per_class_refuses_a_class_it_never_saw(digits, quiet):
    spec = spec_for("vae", steps=5)
    x, y = real_subset(digits)
    keep = y != 3
    model = gens.build(spec, digits.image_shape, 10)
    gens.train(model, x[keep], y[keep], spec["train"], seed=0, log=quiet)
    with pytest.raises(GenaugError, match="no real image of class 3"):
        synthesize(model, "per_class", np.ones(10, dtype=int), x, y, seed=0)


@pytest.mark.heavy
@pytest.mark.parametrize("name,strategy", CASES)
def test_checkpoint_roundtrip_reproduces_samples(trained, digits, tmp_path, name, strategy):
    spec, model, history = trained[name]
    meta = {"image_shape": list(digits.image_shape), "num_classes": 10}
    gens.save(tmp_path / "m.pt", model, spec, meta, history)
    loaded, ckpt = gens.load(tmp_path / "m.pt")
    x, y = real_subset(digits)
    counts = np.full(10, 4)
    labeler = nearest_centroid_labeler(x, y)
    a, _ = synthesize(model, strategy, counts, x, y, seed=9, labeler=labeler, threshold=0.5)
    b, _ = synthesize(loaded, strategy, counts, x, y, seed=9, labeler=labeler, threshold=0.5)
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
    with pytest.raises(GenaugError, match="is conditional; per_class: true makes no sense"):
        gens.label_strategy({"family": "cvae", "per_class": True})
    with pytest.raises(GenaugError, match="unknown generator family"):
        gens.label_strategy({"family": "gan9000", "per_class": True})


def test_a_gmm_prior_is_fitted_per_class_to_the_encoded_images_and_sampled_from(digits, tmp_path):
    """cvae with `prior: gmm` (ex-post density estimation): after training, each class's mixture has at most one
    component per ten images, and latents drawn for a class have the mean and spread of that class's encoded
    images; a class with no images keeps N(0, I); a checkpoint draws the same images; per-class VAEs fit theirs."""
    x, y = real_subset(digits, per_class=30)
    keep = y != 9  # class 9 unseen
    spec = spec_for("cvae", steps=300, hparams={"hidden": [64, 32], "latent_dim": 4, "label_dim": 8, "prior": "gmm",
                                                 "prior_components": 5})
    torch.manual_seed(0)
    model = gens.build(spec, digits.image_shape, 10)
    history = gens.train(model, x[keep], y[keep], spec["train"], seed=0, log=DISCARD)
    assert torch.allclose(model.prior_weights.sum(1), torch.ones(10, dtype=model.prior_weights.dtype))
    assert ((model.prior_weights[:9] > 0).sum(1) == 3).all()  # 30 images: three components, not five
    assert torch.equal(model.prior_means[9], torch.zeros(5, 4)) and model.prior_weights[9, 0] == 1
    with torch.no_grad():
        mu = model.encode(x[keep], y[keep])[0]
        labels = torch.arange(9).repeat_interleave(2000)
        z = model._prior_sample(labels, torch.Generator().manual_seed(3))
    for c in range(9):
        real, drawn = mu[y[keep] == c], z[labels == c]
        assert (drawn.mean(0) - real.mean(0)).norm() < 0.15 * real.std(0).norm(), c
        assert 0.8 < drawn.var(0).sum() / real.var(0).sum() < 1.25, c
    gens.save(tmp_path / "m.pt", model, spec, {"image_shape": list(digits.image_shape), "num_classes": 10}, history)
    loaded, _ = gens.load(tmp_path / "m.pt")
    labels = torch.arange(9).repeat(3)
    assert torch.equal(model.sample(labels, torch.Generator().manual_seed(4)),
                       loaded.sample(labels, torch.Generator().manual_seed(4)))
    per_class = {**spec_for("vae", steps=50), "hparams": {"hidden": [32, 16], "latent_dim": 3, "prior": "gmm"}}
    model = gens.build(per_class, digits.image_shape, 10)
    gens.train(model, x, y, per_class["train"], seed=0, log=DISCARD)
    for member in model.models:  # one group per member; 30 images of its class: three components
        assert member.prior_weights.shape == (1, 10) and (member.prior_weights[0] > 0).sum() == 3
    assert model.sample(labels, torch.Generator().manual_seed(4)).shape == (27, *digits.image_shape)


@pytest.mark.parametrize("hparams,message", [
    ({"corruption": "fog"}, "unknown corruption 'fog'"),
    ({"prior": "flow"}, "unknown prior 'flow'"),
    ({"latent_dims": 3}, "unexpected keyword argument 'latent_dims'"),
])
def test_bad_hyperparameters_name_the_model(hparams, message):
    spec = {**spec_for("vae"), "name": "my_dvae", "hparams": hparams}
    with pytest.raises(GenaugError, match=f"model 'my_dvae' .*{message}"):
        gens.build(spec, (1, 28, 28), 10)


def test_conv_models_refuse_sides_not_divisible_by_4():
    with pytest.raises(GenaugError, match="divisible by 4"):
        gens.build(spec_for("conv_vae"), (1, 30, 30), 10)


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


def test_on_step_ends_training_early_and_lends_the_averaged_weights_without_keeping_them():
    """The hook a wall-clock benchmark uses: returning True stops the run; `averaged` puts the EMA weights in
    the model only while it is open; the run still ends holding the averaged weights."""
    torch.manual_seed(0)
    model = gens.build(gcfg.generator_spec({"effort": "smoke"}, "cddpm"), (1, 8, 8), 3)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 3, (16,))
    seen = {}

    def on_step(step, seconds, averaged):
        if step == 4:
            raw = [p.detach().clone() for p in model.parameters()]
            with averaged():
                seen["averaged"] = [p.detach().clone() for p in model.parameters()]
            seen["restored"] = all(torch.equal(a, p) for a, p in zip(raw, model.parameters()))
            seen["differs"] = any(not torch.equal(a, b) for a, b in zip(raw, seen["averaged"]))
        seen["last"], seen["seconds"] = step, seconds
        return step == 5

    fit(model, x, y, steps=1000, batch_size=4, lr=1e-3, seed=0, log=DISCARD, on_step=on_step)
    assert seen["last"] == 5 and seen["seconds"] > 0 and seen["restored"] and seen["differs"]


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["cvae", "vae"])  # one conditional model, ten per-class models under vmap
def test_bf16_precision_trains_under_autocast_and_its_loss_falls(digits, name):
    """`precision: bf16` reaches the training loss (its log differs from fp32's, same seed) and the model
    learns; the trained weights stay float32. An fp32 spec carries no precision key (no rerun of old specs)."""
    config = {"effort": "smoke", "models": {name: {**gcfg.PRESETS[name], "precision": "bf16"}}}
    spec = gcfg.generator_spec(config, name)
    assert spec["train"]["precision"] == "bf16" and "precision" not in gcfg.generator_spec({}, name)["train"]
    x, y = to_float(digits.train_x[:400]), digits.train_y[:400]
    logs = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = gens.build(spec, digits.image_shape, digits.num_classes)
        train = {**spec["train"], "steps": 100, "batch_size": 32, "precision": precision}  # small: a CPU without
        history = gens.train(model, x, y, train, seed=0, log=DISCARD)  # native bf16 emulates it, 10x slower
        logs[precision] = [r["loss"] for r in history]
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert logs["bf16"][-1] < 0.8 * logs["bf16"][0]
    assert logs["bf16"] != pytest.approx(logs["fp32"], rel=1e-6)


@pytest.mark.parametrize("name", ["cvae", "vae"])  # the conditional path and the per-class (vmapped) one
def test_auto_precision_trains_a_generator_as_the_precision_it_resolves_to(digits, monkeypatch, name):
    """auto reaches both training loops: on a CPU with native bf16 its loss log is bf16's, without it fp32's."""
    spec = gcfg.generator_spec({"effort": "smoke"}, name)
    x, y = to_float(digits.train_x[:200]), digits.train_y[:200]

    def losses(precision):
        torch.manual_seed(0)
        model = gens.build(spec, digits.image_shape, digits.num_classes)
        history = gens.train(model, x, y, {**spec["train"], "steps": 8, "precision": precision}, seed=0, log=DISCARD)
        return [r["loss"] for r in history]

    for native, same_as in ((True, "bf16"), (False, "fp32")):
        for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
            monkeypatch.setattr(torch.cpu, check, lambda native=native: native, raising=False)
        assert losses("auto") == losses(same_as)
    assert losses("bf16") != losses("fp32")


def test_a_batch_larger_than_the_training_set_is_capped_at_it(digits):
    """Both training paths draw batches with replacement; rows past the set's size add memory, not information."""
    x, y = real_subset(digits, per_class=3)
    for name in ("cvae", "vae"):  # one conditional model; ten per-class models under vmap
        spec = spec_for(name, steps=2)
        model = gens.build(spec, digits.image_shape, 10)
        log = io.StringIO()
        history = gens.train(model, x, y, {**spec["train"], "batch_size": 10**6}, seed=0, log=log)
        assert "batch_size 1000000 is more than the 30 training images it draws from; batches of 30" in log.getvalue()
        assert history[-1]["epoch"] == (20.0 if spec["per_class"] else 2.0)  # 2 steps x 30 rows over 3 or 30 images
