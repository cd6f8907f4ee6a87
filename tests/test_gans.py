"""Every registered GAN through the registry, on real digits: samples have the right shape, range
and counts after a short training; the discriminator's real/fake gap opens and then closes as the
generator learns; conditional samples are recognized as their class; the EMA weights are what
samples; a broken learning rate is marked diverged end to end; lazy penalties and DiffAugment do
what they say.

Training runs at 16x16 with width 8 (the same architectures, narrower), so the suite stays fast on
a CPU; `test_every_gan_builds_trains_and_samples_at_28_and_32` covers the real image sizes.
"""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import vmap

from genaug import config as gcfg
from genaug import families
from genaug import generators as gens
from genaug import stages
from genaug.data import to_float
from genaug.errors import GenaugError
from genaug.generators.diffaugment import cutout, diff_augment, translation
from genaug.labels import synthesize, synthetic_counts

from .helpers import DISCARD, check_presets_valid

NAMES = [n for n, e in gcfg.PRESETS.items() if e["family"] in gcfg.GAN_FAMILIES]
CONDITIONAL = [n for n in NAMES if not gcfg.PRESETS[n].get("per_class")]
STEPS = 20


def spec_for(name, steps=STEPS, **hparams):
    spec = gcfg.generator_spec({"models": {}, "effort": "paper"}, name)
    spec["hparams"].update({"width": 8, **hparams})
    spec["train"] = {**spec["train"], "steps": steps, "batch_size": 32}
    return spec


def train_one(name, x, y, steps, **hparams):
    """`name`'s preset (width 8) with `hparams`, trained on x, y from seed 0: (model, loss history)."""
    spec = spec_for(name, steps=steps, **hparams)
    torch.manual_seed(0)
    model = gens.build(spec, x.shape[1:], 10)
    return model, gens.train(model, x, y, spec["train"], seed=0, log=DISCARD)


def small_digits(digits, classes, per_class=60, side=16):
    """Real digits of `classes`, resized to side x side (float in [0, 1])."""
    y_all = digits.train_y.numpy()
    idx = np.concatenate([np.flatnonzero(y_all == c)[:per_class] for c in classes])
    x = F.interpolate(to_float(digits.train_x[idx]), size=side, mode="bilinear", antialias=True).clamp(0, 1)
    return x, digits.train_y[idx]


@pytest.fixture(scope="module")
def trained(digits):
    """Each GAN trained briefly: per-class ones on three classes, conditional ones on all ten; class 0
    has half the images of the others, so `match` and `balance` ask for different counts."""
    out = {}
    for name in NAMES:
        classes = range(10) if name in CONDITIONAL else range(3)
        x, y = small_digits(digits, classes)
        keep = (y != 0) | (torch.arange(len(y)) % 2 == 0)
        x, y = x[keep], y[keep]
        spec = spec_for(name)
        torch.manual_seed(0)
        model = gens.build(spec, x.shape[1:], 10)
        gens.train(model, x, y, spec["train"], seed=0, log=DISCARD)
        out[name] = (spec, model, x, y)
    return out


def test_every_gan_preset_is_a_valid_model_entry():
    check_presets_valid(NAMES)
    assert set(NAMES) == {"gan", "dcgan", "lsgan", "wgan", "wgan_gp", "cgan", "cdcgan", "cdcgan_late",
                          "cdcgan_r1", "cdcgan_ms", "biggan", "stylegan"}
    assert all(families.get(gcfg.PRESETS[n]["family"]).gpu for n in NAMES)


@pytest.mark.heavy
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("policy", ["match", "balance"])
def test_samples_have_shape_range_and_counts(trained, name, policy):
    spec, model, x, y = trained[name]
    real = np.bincount(y.numpy(), minlength=10)
    counts = np.where(real > 0, synthetic_counts(real, policy), 0)  # per-class models exist for classes with images
    assert (counts[0], counts[1]) == ((30, 60) if policy == "match" else (30, 0))  # balance tops class 0 up
    images, labels = synthesize(model, gens.label_strategy(spec), counts, x, y, seed=3)
    assert images.shape == (counts.sum(), *x.shape[1:]) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert np.array_equal(np.bincount(labels.numpy(), minlength=10), counts)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_gan_builds_trains_and_samples_at_28_and_32(name, shape):
    spec = spec_for(name, steps=2, width=4)
    spec["train"]["batch_size"] = 4
    model = gens.build(spec, shape, 10)
    x, y = torch.rand(8, *shape), torch.tensor([0, 1] * 4)
    gens.train(model, x, y, spec["train"], seed=0, log=DISCARD)
    out = model.sample(torch.tensor([0, 1, 1]), torch.Generator().manual_seed(0))
    assert out.shape == (3, *shape) and out.min() >= 0 and out.max() <= 1


def test_conv_gans_refuse_sides_not_divisible_by_4():
    with pytest.raises(GenaugError, match="divisible by 4"):
        gens.build(spec_for("cdcgan"), (1, 30, 30), 10)


def test_ema_weights_are_what_samples(digits):
    """With ema on, training ends with the averaged generator weights, not the last step's."""
    x, y = small_digits(digits, range(10), per_class=10)
    results = {}
    for ema in (0.0, 0.9):
        results[ema] = train_one("cdcgan", x, y, 20, ema=ema)[0]
    same_d = all(torch.equal(a, b) for a, b in zip(results[0.0].discriminator.parameters(),
                                                    results[0.9].discriminator.parameters()))
    differ_g = any(not torch.equal(a, b) for a, b in zip(results[0.0].generator.parameters(),
                                                        results[0.9].generator.parameters()))
    assert same_d and differ_g  # the same run; only the generator's final weights differ


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["dcgan", "wgan"])
def test_a_broken_learning_rate_is_marked_diverged_and_feeds_no_classifier(tmp_path, digits_cache, name):
    """lr 50: training goes non-finite, or the samples collapse. Either way the synthetic set is
    empty and says why, the classifier cell is recorded as diverged without training, and the
    report lists it and leaves it out of its tables."""
    from genaug.aggregate import aggregate
    from genaug.report.html import build_report

    sub = tmp_path / "s.npz"
    quiet = DISCARD
    stages.subset(data=digits_cache, regime="balanced", size="n200", seed=0, out=sub, log=quiet,
                  validation_per_class=20)
    spec = spec_for(name, steps=10)
    spec["train"]["lr"] = 50.0
    stages.train_gen(data=digits_cache, subset=sub, spec=spec, seed=0, out=tmp_path / "g.pt",
                     loss_log=tmp_path / "loss.csv", device="cpu", log=quiet)
    log = tmp_path / "sample.log"
    stages.sample(data=digits_cache, subset=sub, generator=tmp_path / "g.pt", seed=0, out=tmp_path / "syn.npz",
                  grid_png=tmp_path / "syn.png", policy="match", min_diversity=0.2, device="cpu", log=open(log, "w"))
    assert "DIVERGED" in log.read_text()
    with np.load(tmp_path / "syn.npz") as z:
        meta = json.loads(str(z["meta"]))
        assert len(z["images"]) == 0 and meta["status"] == "diverged" and "diverged" in meta["reason"]
    clf = {"name": "cnn", "arch": "cnn", "hparams": {}, "train": {"max_steps": 4, "eval_every": 2, "patience_steps": 4}}
    runs = {"baseline": None, name: tmp_path / "syn.npz"}
    for model, synthetic in runs.items():
        stages.train_clf(data=digits_cache, subset=sub, classifier=clf, model=model, seed=0, synthetic=synthetic,
                         out=tmp_path / model / "metrics.json", embeddings=tmp_path / model / "emb.npz", log=quiet)
    metrics = json.loads((tmp_path / name / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["accuracy"] is None and "wall_time_s" not in metrics
    df = aggregate([tmp_path / m / "metrics.json" for m in runs], tmp_path / "summary.csv")
    assert df.set_index("model")["status"].to_dict() == {"baseline": "ok", name: "diverged"}
    build_report(tmp_path / "summary.csv", [tmp_path / "syn.png"], tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    diverged_part, rest = page.split("<h2 id=answer>", 1)
    assert "Diverged generators" in diverged_part and f"<td class=l>{name}</td>" in diverged_part
    assert f"<td class=l>{name}</td>" not in rest.split("<h2 id=samples>")[0]  # in no table of scores


def test_the_collapse_check_is_on_by_default_and_off_at_smoke_effort():
    assert gcfg.synthesis_spec({"effort": "quick"}, "dcgan")["min_diversity"] == 0.2
    chosen = {"synthesis": {"min_diversity": 0.5}}
    assert gcfg.synthesis_spec({"effort": "quick", **chosen}, "dcgan")["min_diversity"] == 0.5
    assert gcfg.synthesis_spec({"effort": "smoke", **chosen}, "dcgan")["min_diversity"] == 0


def test_translation_shifts_content_and_cutout_zeroes_a_square():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1.0  # a centred square: shifts of up to 2 px keep it inside
    moved = translation(x)
    assert torch.allclose(moved.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # mass kept, only moved
    assert not torch.equal(moved, x) and set(moved.unique().tolist()) <= {0.0, 1.0}
    ones = torch.ones(64, 1, 16, 16)
    cut = cutout(ones)
    zeros = (cut == 0).sum(dim=(1, 2, 3))
    assert zeros.max() == 64 and zeros.min() > 0  # an 8x8 square, clipped at the border sometimes


def test_diffaugment_runs_under_vmap_with_different_draws_per_model():
    x = torch.rand(3, 8, 1, 16, 16) * 2 - 1
    out = vmap(lambda t: diff_augment(t, ["color", "translation", "cutout"]), randomness="different")(x)
    assert out.shape == x.shape
    assert not torch.equal(out[0], out[1])


# Steps after which each GAN's game has turned and (conditional ones) its samples show their class,
# calibrated at width 8, 16 px, batch 32 on these digits.
BEHAVIOUR_STEPS = {"gan": 300, "dcgan": 600, "lsgan": 1200, "wgan": 300, "wgan_gp": 300, "cgan": 1200,
                   "cdcgan": 1500, "cdcgan_late": 600, "cdcgan_r1": 600, "cdcgan_ms": 600,
                   "biggan": 600, "stylegan": 300}
# The default suite's share: 003's GAN and the CPU evidence grid's (cdcgan_ms); `pytest -m slow` plays the others.
FAST = {"gan", "cdcgan_ms"}


def every(names):
    return [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in names]


@pytest.fixture(scope="module")
def played(digits):
    """name -> (history, model) of each GAN trained for its BEHAVIOUR_STEPS, on demand: per-class
    ones on one digit (its ~120 training images), conditional ones on all ten (60 each)."""
    cache = {}

    def play(name):
        if name not in cache:
            conditional = name in CONDITIONAL
            x, y = small_digits(digits, range(10) if conditional else [0], per_class=60 if conditional else 120)
            model, history = train_one(name, x, y, BEHAVIOUR_STEPS[name])
            cache[name] = (history, model)
        return cache[name]

    return play


def test_behaviour_steps_cover_every_gan():
    assert set(BEHAVIOUR_STEPS) == set(NAMES) and FAST <= set(NAMES)


@pytest.mark.heavy
@pytest.mark.parametrize("name", every(NAMES))
def test_the_discriminator_pulls_apart_then_the_generator_catches_up(played, name):
    """The mean gap D(real) - D(fake) (the critic's Wasserstein estimate for WGANs) first opens,
    then closes to under 0.8 of its peak over the last three log intervals. With the generator
    frozen (lr 0) the gaps of dcgan, lsgan and cdcgan rise to the end instead (measured: 0.71 to
    11.9, 0.42 to 0.99, 0.46 to 12.3), so this fails when the generator does not learn. A
    weight-clipped critic's outputs are about `clip` in size."""
    history, _ = played(name)
    steps = sorted({r["step"] for r in history})
    gap = np.array([np.mean([r["d_real"] - r["d_fake"] for r in history if r["step"] == s]) for s in steps])
    scale = gcfg.PRESETS[name].get("clip", 0.01) if gcfg.PRESETS[name]["loss"] == "wgan" else 1.0
    peak = int(np.argmax(gap))
    assert gap[peak] > 0.1 * scale, f"the discriminator never separated real from fake: {gap.round(4)}"
    assert peak < len(gap) - 3 and gap[-3:].mean() < 0.8 * gap[peak], f"the gap did not close: {gap.round(4)}"


@pytest.mark.heavy
@pytest.mark.parametrize("name", every(CONDITIONAL))
def test_conditional_samples_are_recognized_as_their_class(played, digits, name):
    """A logistic regression trained on real digits recognizes the requested class of 100 samples
    per class more often than chance (0.1) would, at p < 0.001 (binomial)."""
    from scipy.stats import binomtest
    from sklearn.linear_model import LogisticRegression

    xr, yr = small_digits(digits, range(10), per_class=150)
    clf = LogisticRegression(max_iter=2000).fit(xr.flatten(1).numpy(), yr.numpy())
    labels = torch.arange(10).repeat_interleave(100)
    images = played(name)[1].sample(labels, torch.Generator().manual_seed(0))
    hits = int((clf.predict(images.flatten(1).numpy()) == labels.numpy()).sum())
    assert binomtest(hits, len(labels), 0.1, alternative="greater").pvalue < 1e-3, f"{hits / len(labels):.2f}"


def test_lazy_regularization_updates_every_k_steps_and_logs_its_own_mean():
    """reg_every=3: the `d_reg` objective runs on steps 3 and 6 only, through the phase's optimizer,
    and the logged penalty is the mean over the steps that had one (not diluted by the others)."""
    from genaug.generators.base import Phase, train_loop

    w = torch.zeros(2, requires_grad=True)
    calls = []

    def step_loss(step, objective):
        calls.append((step, objective))
        if objective == "d_reg":
            return (w - 1).pow(2).sum(), {"penalty": torch.tensor(float(step))}
        return w.pow(2).sum(), {}

    history = train_loop({"w": w}, step_loss, steps=6, lr=0.1, name="toy", phases=(Phase("d", reg_every=3),),
                         log=DISCARD, log_every=6)
    assert [c for c in calls if c[1] == "d_reg"] == [(3, "d_reg"), (6, "d_reg")]
    assert len(calls) == 8
    assert history[-1]["penalty"] == pytest.approx(4.5) and history[-1]["loss"] >= 0


def test_a_lazy_r1_penalty_runs_vmapped_over_per_class_models(digits):
    x, y = small_digits(digits, range(2), per_class=20)
    history = train_one("stylegan", x, y, 8, reg_every=4)[1]
    penalties = [r["penalty"] for r in history if "penalty" in r]
    assert len(penalties) == 2 * 2 and all(np.isfinite(penalties)) and min(penalties) > 0  # steps 4 and 8, 2 classes
    with pytest.raises(GenaugError, match="reg_every"):
        gens.build(spec_for("stylegan", reg_every=0), x.shape[1:], 10)


def test_the_minibatch_std_map_is_zero_for_a_batch_of_copies_and_positive_for_variety():
    from genaug.generators.gan_nets import minibatch_std

    same = torch.randn(1, 3, 5, 5).expand(8, -1, -1, -1)
    varied = torch.randn(8, 3, 5, 5)
    for h in (same, varied, torch.randn(6, 3, 5, 5), torch.randn(1, 3, 5, 5)):  # groups of 4, 3 and 1
        out = minibatch_std(h)
        assert out.shape == (len(h), 4, 5, 5) and torch.equal(out[:, :3], h)
    assert minibatch_std(same)[:, 3].max() < 1e-3 and minibatch_std(varied)[:, 3].min() > 0.5


@pytest.mark.parametrize("name", ["dcgan", "cdcgan_r1"])
def test_mbstd_gans_train_per_class_and_conditional_and_refuse_other_archs(digits, name):
    """mbstd runs vmapped over per-class models (dcgan) and in the conditional cDCGAN2 with its R1 penalty."""
    x, y = small_digits(digits, range(2), per_class=20)
    model, history = train_one(name, x, y, 8, mbstd=True)
    member = model.models[1] if name == "dcgan" else model
    assert member.hparams["mbstd"] and member.discriminator.conv2.in_channels == 8 + (10 if name != "dcgan" else 0) + 1
    assert history and all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in history)
    with pytest.raises(GenaugError, match="mbstd"):
        gens.build(spec_for("cgan", mbstd=True), x.shape[1:], 10)


def _same_label_spread(model) -> float:
    """Mean absolute pixel difference between two samples of one label (50 pairs a class)."""
    samples = model.sample(torch.arange(10).repeat_interleave(100), torch.Generator().manual_seed(0)).flatten(1)
    return float((samples[0::2] - samples[1::2]).abs().mean())


def test_mode_seeking_keeps_a_conditional_generator_from_ignoring_z(digits):
    """cdcgan_r1 on 60 digits a class for 300 steps: without the term two samples of one label grow alike
    (measured: spread 0.167 at 100 steps, 0.133 at 300); with mode_seeking 1 they differ more (0.241), and the
    logged ratio of the pairs' image to latent distance is positive. Negative weights are refused."""
    x, y = small_digits(digits, range(10), per_class=60)
    spreads = {}
    for weight in (0.0, 1.0):
        model, history = train_one("cdcgan_r1", x, y, 300, mode_seeking=weight)
        spreads[weight] = _same_label_spread(model)
        ratios = [r["ms_ratio"] for r in history if "ms_ratio" in r]
        assert (len(ratios) > 0 and min(ratios) > 0) if weight else not ratios
    assert spreads[1.0] > 1.3 * spreads[0.0], spreads
    with pytest.raises(GenaugError, match="mode_seeking"):
        gens.build(spec_for("cdcgan_r1", mode_seeking=-1.0), x.shape[1:], 10)
