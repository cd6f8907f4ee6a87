"""The 000 CNN and the shared early-stopping training loop, on real digits."""

import numpy as np
import pytest
import torch

from genaug.classifiers import CNN, TrainConfig, build_classifier, fit_classifier, predict
from genaug.errors import GenaugError
from genaug.scoring import classification_scores


def test_cnn_has_000s_parameter_count_and_a_128d_embedding():
    net = CNN(1, 28, 10)
    assert sum(p.numel() for p in net.parameters()) == 1_658_890
    assert net.embed(torch.rand(3, 1, 28, 28)).shape == (3, 128)


def test_cnn_builds_for_rgb_32px():
    net = build_classifier("cnn", (3, 32, 32), 7)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("channels,side", [(1, 28), (3, 32)])
def test_resnet18_keeps_spatial_resolution_for_small_images(channels, side):
    net = build_classifier("resnet18", (channels, side, side), 10)
    assert net.body.conv1.kernel_size == (3, 3) and net.body.conv1.stride == (1, 1)
    assert net.body.conv1.in_channels == channels and isinstance(net.body.maxpool, torch.nn.Identity)
    x = torch.rand(2, channels, side, side)
    assert net(x).shape == (2, 10) and net.embed(x).shape == (2, 512)
    # torchvision's resnet18 body (11.17 M weights) with a 3x3 stem instead of 7x7
    assert 11.1e6 < sum(p.numel() for p in net.parameters()) < 11.2e6


def test_softmax_regression_is_one_linear_layer_on_pixels():
    net = build_classifier("softmax", (1, 28, 28), 10)
    assert sum(p.numel() for p in net.parameters()) == 784 * 10 + 10
    assert net.embed(torch.rand(4, 1, 28, 28)).shape == (4, 784)


@pytest.mark.parametrize("arch,passes,floor", [
    pytest.param("resnet18", 3, 0.7, marks=pytest.mark.slow),  # about a minute on one CPU core
    ("softmax", 15, 0.8),
])
def test_resnet18_and_softmax_learn_digits(digits, quiet, arch, passes, floor):
    torch.manual_seed(0)
    net = build_classifier(arch, digits.image_shape, 10)
    cfg = TrainConfig.passes(600, passes)
    result = fit_classifier(net, digits.train_x[:600], digits.train_y[:600], digits.train_x[600:800],
                            digits.train_y[600:800], cfg, seed=0, log=quiet)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.steps_run == passes * 10  # 600 images in batches of 64: 10 steps a pass
    test_acc = (predict(net, digits.test_x).argmax(1) == digits.test_y).float().mean().item()
    assert test_acc > floor, test_acc


@pytest.mark.heavy
def test_bf16_autocasts_the_training_step_and_keeps_float32_weights(digits, quiet):
    """bf16 changes the arithmetic (other weights than fp32 from the same seed) but not what is stored, and it
    is reproducible: the same seed gives the same weights."""
    runs = {}
    for precision in ("fp32", "bf16", "bf16"):
        torch.manual_seed(0)
        net = build_classifier("cnn", digits.image_shape, 10)
        cfg = TrainConfig(max_steps=6, eval_every=3, patience_steps=6, ema=0.0, precision=precision, batch_size=8)
        fit_classifier(net, digits.train_x[:200], digits.train_y[:200], digits.train_x[200:300],
                       digits.train_y[200:300], cfg, seed=0, log=quiet)
        w = torch.cat([p.detach().flatten() for p in net.parameters()])
        assert w.dtype == torch.float32
        if precision in runs:
            assert torch.equal(w, runs[precision])
        runs[precision] = w
    assert not torch.equal(runs["fp32"], runs["bf16"])


def test_an_unknown_precision_is_refused():
    with pytest.raises(GenaugError, match="precision 'fp16': use one of fp32, bf16, auto"):
        TrainConfig(precision="fp16")


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Make this CPU look as if it had (True) or lacked (False) native bf16, whatever it has."""
    def set_native(native: bool):
        for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
            monkeypatch.setattr(torch.cpu, check, lambda: native, raising=False)
    return set_native


def test_auto_precision_is_bf16_only_where_the_device_computes_it(cpu_bf16):
    from genaug.device import resolve_precision

    cpu = torch.device("cpu")
    for native, auto in ((True, "bf16"), (False, "fp32")):
        cpu_bf16(native)
        assert [resolve_precision(p, cpu) for p in ("fp32", "bf16", "auto")] == ["fp32", "bf16", auto]


def test_bf16_asked_of_a_cpu_that_emulates_it_is_run_as_asked_and_warned_of_in_the_log(cpu_bf16):
    """Emulated bf16 made a cvae step 14x slower on an AVX2 AMD EPYC; a job that asks for it says so in its log."""
    import io

    from genaug.device import resolve_precision

    cpu = torch.device("cpu")
    for native in (True, False):
        cpu_bf16(native)
        logs = {p: io.StringIO() for p in ("fp32", "bf16", "auto")}
        resolved = [resolve_precision(p, cpu, log) for p, log in logs.items()]
        assert resolved == ["fp32", "bf16", "bf16" * native or "fp32"]
        assert ("has no native bfloat16" in logs["bf16"].getvalue()) == (not native)
        assert "set precision: auto" in logs["bf16"].getvalue() or native
        assert logs["fp32"].getvalue() == logs["auto"].getvalue() == ""


@pytest.mark.parametrize("native", [True, False])
def test_an_auto_classifier_trains_as_the_precision_it_resolves_to(digits, quiet, cpu_bf16, native):
    """auto reaches the training step: its weights are, bit for bit, those of the precision it stands for."""
    cpu_bf16(native)
    weights = {}
    for precision in ("auto", "bf16" if native else "fp32"):
        torch.manual_seed(0)
        net = build_classifier("softmax", digits.image_shape, 10)
        cfg = TrainConfig(max_steps=6, eval_every=3, patience_steps=6, ema=0.0, precision=precision)
        fit_classifier(net, digits.train_x[:200], digits.train_y[:200], digits.train_x[200:300],
                       digits.train_y[200:300], cfg, seed=0, log=quiet)
        weights[precision] = torch.cat([p.detach().flatten() for p in net.parameters()])
    assert len(set(weights)) == 2 and torch.equal(*weights.values())


def test_unknown_classifier():
    with pytest.raises(GenaugError, match="unknown classifier 'vit'"):
        build_classifier("vit", (1, 28, 28), 10)


@pytest.mark.heavy
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_learns_digits_and_keeps_the_best_validated_weights(digits, quiet, precision):
    torch.manual_seed(0)
    x, y = digits.train_x[:600], digits.train_y[:600]
    vx, vy = digits.train_x[600:800], digits.train_y[600:800]
    net = build_classifier("cnn", digits.image_shape, 10)
    # batch 16: a CPU without native bf16 emulates it, 10x slower (about 0.89 on the test split either way)
    cfg = TrainConfig(max_steps=80, eval_every=10, patience_steps=30, precision=precision, batch_size=16)
    result = fit_classifier(net, x, y, vx, vy, cfg, seed=0, log=quiet)
    val_acc = (predict(net, vx).argmax(1) == vy).float().mean().item()
    assert val_acc == pytest.approx(result.best_val_accuracy)  # the restored weights are the best validated ones
    assert result.best_val_accuracy == max(h["val_accuracy"] for h in result.history)
    assert [h["step"] for h in result.history] == list(range(10, result.steps_run + 1, 10))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    test_acc = (predict(net, digits.test_x).argmax(1) == digits.test_y).float().mean().item()
    assert test_acc > 0.8


def test_early_stopping_stops_patience_steps_after_the_best(digits, quiet):
    torch.manual_seed(0)
    net = build_classifier("cnn", digits.image_shape, 10)
    # A learning rate of 0 never improves on the first validation.
    cfg = TrainConfig(max_steps=500, eval_every=5, patience_steps=15, lr=0.0)
    result = fit_classifier(net, digits.train_x[:100], digits.train_y[:100], digits.train_x[100:200],
                            digits.train_y[100:200], cfg, seed=0, log=quiet)
    assert (result.best_step, result.steps_run, result.stopped_by) == (5, 20, "patience")
    # the default convergence check (half the patience) stopped at 5 + 5 (eval points) with the same weights
    assert result.checks == [{"patience_steps": 7, "max_steps": 500, "stopped_at": 15, "best_step": 5,
                              "best_val_accuracy": result.best_val_accuracy}]


def test_the_step_cap_ends_training_whatever_the_patience(digits, quiet):
    net = build_classifier("softmax", digits.image_shape, 10)
    cfg = TrainConfig(max_steps=33, eval_every=10, patience_steps=1000)
    result = fit_classifier(net, digits.train_x[:300], digits.train_y[:300], digits.train_x[300:400],
                            digits.train_y[300:400], cfg, seed=0, log=quiet)
    assert result.steps_run == 33 and result.stopped_by == "cap"
    assert [h["step"] for h in result.history] == [10, 20, 30, 33]  # the last step is always validated


def test_real_in_batch_keeps_the_running_share_exact():
    from fractions import Fraction

    from genaug.classifiers import real_in_batch

    for share in (Fraction(1, 6), Fraction(1, 2), Fraction(250, 1250), Fraction(0), Fraction(1)):
        counts = [real_in_batch(t, 64, share) for t in range(500)]
        assert all(int(64 * share) <= c <= -(-64 * share // 1) for c in counts)  # floor or ceil of 64 f
        for t in range(1, 501):
            assert abs(sum(counts[:t]) - t * 64 * share) < 1  # the running share, to within one image


def _mixed(digits, n_real, n_synth):
    """n_real real digits (values as they are) and n_synth 'synthetic' ones marked by a white top-left pixel."""
    real = digits.train_x[:n_real].clone()
    real[:, :, 0, 0] = 0
    synth = digits.train_x[n_real:n_real + n_synth].clone()
    synth[:, :, 0, 0] = 255
    return (torch.cat([real, synth]), torch.cat([digits.train_y[:n_real], digits.train_y[n_real:n_real + n_synth]]))


@pytest.mark.parametrize("n_synth,real_fraction,expected", [(0, None, 64), (200, None, 32), (1000, None, 11),
                                                            (200, 0.75, 48), (200, 0.0, 0)])
def test_every_arm_trains_the_same_steps_and_batches_mix_real_and_synthetic_as_asked(
        digits, quiet, n_synth, real_fraction, expected):
    """Baseline (0 synthetic), mixed 1:1, mixed 1:5 and two chosen shares: the same step budget (here the cap)
    and batches of 64 whose real share is the set's share (or the chosen one), to within one image."""
    x, y = _mixed(digits, 200, n_synth)
    seen = []

    def spy(xb, gen):  # the augment hook sees every training batch
        seen.append(int((xb[:, 0, 0, 0] < 0.5).sum()))
        return xb

    cfg = TrainConfig(max_steps=60, eval_every=20, patience_steps=60, real_fraction=real_fraction)
    net = build_classifier("softmax", digits.image_shape, 10)
    result = fit_classifier(net, x, y, digits.test_x[:100], digits.test_y[:100], cfg, seed=0,
                            n_real=200, augment=spy, log=quiet)
    assert result.steps_run == 60 and len(seen) == 60
    assert abs(np.mean(seen) - expected) <= 1 and max(seen) - min(seen) <= 1


def test_a_balanced_pass_draws_every_class_as_often_as_the_largest():
    from genaug.classifiers import balanced_pass

    labels = torch.tensor([0] * 20 + [1] * 6 + [2] * 1 + [4] * 13)  # class 3 absent
    gen = torch.Generator().manual_seed(0)
    drawn = balanced_pass(labels, gen)
    assert len(drawn) == 4 * 20
    assert torch.bincount(labels[drawn], minlength=5).tolist() == [20, 20, 20, 0, 20]
    times = torch.bincount(drawn, minlength=len(labels))
    for c, (lo, hi) in {0: (1, 1), 1: (3, 4), 2: (20, 20), 4: (1, 2)}.items():
        assert lo <= times[labels == c].min() and times[labels == c].max() <= hi  # floor or ceil of its share
    assert (labels[drawn][:40] != labels[drawn][:40].sort().values).any()  # the classes are interleaved
    again = balanced_pass(labels, torch.Generator().manual_seed(0))
    assert torch.equal(drawn, again) and not torch.equal(drawn, balanced_pass(labels, gen))


@pytest.mark.parametrize("oversample", [False, True])
def test_oversampling_draws_each_class_equally_often_and_the_plain_order_as_the_set_has_them(digits, quiet,
                                                                                            oversample):
    """An imbalanced real set (one class 10x another): with oversample every class fills about a tenth of the
    batches over the run; without, each its share of the set."""
    counts = np.round(100 * 10.0 ** (-np.arange(10) / 9)).astype(int)
    idx = torch.cat([(digits.train_y == c).nonzero().flatten()[:n] for c, n in enumerate(counts)])
    x, y = digits.train_x[idx].clone(), digits.train_y[idx]
    x[:, :, 0, 0] = (y * 20).to(torch.uint8).view(-1, 1)  # the label, readable from the batch
    seen = []

    def spy(xb, gen):
        seen.append((xb[:, 0, 0, 0] * 255 / 20).round().long())
        return xb

    cfg = TrainConfig(max_steps=100, eval_every=50, patience_steps=100)
    fit_classifier(build_classifier("softmax", digits.image_shape, 10), x, y, x[:50], y[:50], cfg, seed=0,
                   augment=spy, oversample=oversample, log=quiet)
    share = torch.bincount(torch.cat(seen), minlength=10).numpy() / (100 * 64)
    assert torch.bincount(y, minlength=10).tolist() == counts.tolist()
    expected = np.full(10, 0.1) if oversample else counts / counts.sum()
    assert np.abs(share - expected).max() < 0.02


def test_a_share_the_set_cannot_give_is_refused(digits, quiet):
    from genaug.errors import GenaugError

    x, y = _mixed(digits, 100, 0)
    cfg = TrainConfig(max_steps=10, eval_every=5, patience_steps=10, real_fraction=0.5)
    with pytest.raises(GenaugError, match="real_fraction 0.5: a batch can only draw from sources it has"):
        fit_classifier(build_classifier("softmax", digits.image_shape, 10), x, y, x, y, cfg, seed=0, n_real=100,
                       log=quiet)


def test_scores_match_their_definitions():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    s = classification_scores(y_true, y_pred, ["a", "b", "c"])
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert s["per_class"]["c"]["recall"] == pytest.approx(0.5)
    assert s["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
