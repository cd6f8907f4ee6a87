"""The gen_metrics stages on real digits: the reference classifier, the real reference and floor draws, metrics
of a set at one fixed count per class, Inception FID through pytorch-fid (with a stand-in weights file: the real
one cannot be downloaded here), and the metrics cross-checked against their reference implementations."""

import json

import numpy as np
import pytest
import torch

from genaug import config as gcfg
from genaug import gen_metrics as gm
from genaug.errors import GenaugError
from genaug.subsets import FLOOR_MAX_DRAWS, metric_count, metric_need, metric_reference_indices
from genaug.yardsticks import YARDSTICKS

PER_CLASS = 20


@pytest.fixture(scope="module")
def reference(digits_cache, tmp_path_factory):
    d = tmp_path_factory.mktemp("reference")
    with open(d / "log", "w") as log:
        gm.reference(data=digits_cache, out_model=d / "classifier.pt", out_features=d / "features.npz",
                     out_floor=d / "floor.json", validation_per_class=10, epochs=2, per_class=PER_CLASS,
                     device="cpu", log=log)
    return d


def _set(path, images, labels, **meta):
    np.savez(path, images=images, labels=labels,
             meta=np.array(json.dumps({"status": "ok", "regime": "balanced", "size": "n100", "seed": 0, **meta})))


def _score(reference, synthetic, out, **kw):
    return gm.gen_metrics(synthetic=synthetic, out=out, reference_model=reference / "classifier.pt",
                          reference_features=reference / "features.npz", floor=reference / "floor.json",
                          device="cpu", log=open(str(out) + ".log", "w"), **kw)


@pytest.mark.heavy
def test_reference_and_floor_are_disjoint_balanced_test_draws(reference, digits):
    from genaug.gen_metrics import reference_draws

    with np.load(reference / "features.npz") as z:
        feats, labels, idx, n = z["features"], z["labels"], z["indices"], int(z["per_class"])
        assert float(z["test_accuracy"]) > 0.5
    n_again, ref, floors = reference_draws(digits, PER_CLASS)
    assert n == n_again == PER_CLASS and (idx == ref).all()
    pool = len(digits.train_y) - 10 * 10  # 19 steps a pass: 2 passes would be 38 steps
    assert f"cnn on {pool} train images, 6 passes (not 2: at least 100 steps)" in (reference / "log").read_text()
    assert feats.shape == (10 * PER_CLASS, 128) and (np.bincount(labels) == PER_CLASS).all()
    assert (digits.test_y.numpy()[idx] == labels).all()
    for floor in floors:
        assert not set(ref) & set(floor) and (np.bincount(digits.test_y.numpy()[floor]) == PER_CLASS).all()
    floor_scores = json.loads((reference / "floor.json").read_text())
    assert floor_scores["per_class_count"] == PER_CLASS and floor_scores["n"] == 10 * PER_CLASS
    assert floor_scores["draws"] == len(floors) == len(floor_scores["domain_fd_draws"])
    assert 0 < floor_scores["domain_fd"] and floor_scores["precision"] > 0.7 and floor_scores["label_agreement"] > 0.5


@pytest.mark.heavy
def test_the_floor_is_the_mean_of_the_real_draws_with_their_spread(digits_cache, digits, tmp_path, monkeypatch):
    monkeypatch.setattr("genaug.metrics.REFERENCE_MIN_STEPS", 0)  # one pass: the draws are tested, not the network
    per_class = 10  # digits' smallest test class holds several draws of 10 beside the reference
    smallest = int(np.bincount(digits.test_y.numpy()).min())
    gm.reference(data=digits_cache, out_model=tmp_path / "c.pt", out_features=tmp_path / "f.npz",
                 out_floor=tmp_path / "floor.json", validation_per_class=10, epochs=1, per_class=per_class,
                 device="cpu", log=open(tmp_path / "log", "w"))
    floor = json.loads((tmp_path / "floor.json").read_text())
    assert floor["draws"] == min(FLOOR_MAX_DRAWS, smallest // per_class - 1) >= 3
    fds = floor["domain_fd_draws"]
    assert len(fds) == floor["draws"] and len(set(fds)) == len(fds)  # different real sets, different scores
    assert floor["domain_fd"] == pytest.approx(np.mean(fds)) and floor["domain_fd_sd"] == pytest.approx(
        np.std(fds, ddof=1))
    assert f"sd {floor['domain_fd_sd']:.2f} over {floor['draws']} draws" in (tmp_path / "log").read_text()
    per_class = floor["per_class_fd"]  # each class's own floor, which the report's per-class FD is read against
    assert set(per_class) == {str(c) for c in range(10)} and all(v > 0 for v in per_class.values())
    assert floor["intra_class_fd"] == pytest.approx(np.mean(list(per_class.values())))
    sticks = floor["yardsticks"]  # the same real draws altered in known ways, read against this floor
    assert set(sticks) == set(YARDSTICKS)
    assert all(v["ratio"] == pytest.approx(v["domain_fd"] / floor["domain_fd"]) for v in sticks.values())
    for milder, stronger in [("blur0.5", "blur1"), ("shift1", "shift2"), ("repeat2", "repeat10")]:
        assert 1 < sticks[stronger]["ratio"] and sticks[milder]["ratio"] < sticks[stronger]["ratio"], stronger


def test_the_floor_averages_as_many_disjoint_real_draws_as_the_test_split_holds():
    labels = np.repeat(np.arange(10), 1000)
    ref, floors = metric_reference_indices(labels, 100, 10)
    assert len(floors) == FLOOR_MAX_DRAWS  # 1,000 a class would hold 9 draws beside the reference
    drawn = [ref, *floors]
    assert len(set(np.concatenate(drawn))) == sum(map(len, drawn))  # pairwise disjoint
    assert all((np.bincount(labels[d], minlength=10) == 100).all() for d in drawn)
    # The reference and the first floor draw are what the single-draw floor used: old scores stay comparable.
    rng = np.random.default_rng(4_004)
    picks = [rng.choice(np.flatnonzero(labels == c), size=200, replace=False) for c in range(10)]
    assert (ref == np.sort(np.concatenate([p[:100] for p in picks]))).all()
    assert (floors[0] == np.sort(np.concatenate([p[100:] for p in picks]))).all()
    assert len(metric_reference_indices(labels, 500, 10)[1]) == 1  # no room beside the reference
    assert len(metric_reference_indices(labels, 300, 10)[1]) == 2


def test_the_metric_count_is_as_large_as_the_test_split_allows_or_refused(digits):
    counts = np.bincount(digits.test_y.numpy())
    smallest, name = int(counts.min()), digits.classes[int(counts.argmin())]
    assert metric_count(counts, "auto") == smallest // 2
    assert metric_count([2000] * 10, "auto") == 500  # capped
    assert metric_count(counts, 7) == 7
    with pytest.raises(GenaugError, match=rf"gen_metrics.per_class: 40 needs 80 test images .* class {name!r} has "
                                          rf"{smallest}; use 2..{smallest // 2}"):
        metric_count(counts, 40, digits.classes)
    with pytest.raises(GenaugError, match=r"per_class: 1 is below the least, 2 \(a set of one image a class has no "
                                          r"spread\); use 2..5"):
        metric_count([10, 10, 10], 1)
    with pytest.raises(GenaugError, match="class 2 has 3 test images; add test images, or set gen_metrics"):
        metric_count([4, 5, 3], 1)  # not "use 2..1"


def test_the_reference_trains_at_least_its_step_floor_on_a_small_pool():
    from genaug.metrics import REFERENCE_MIN_STEPS, reference_passes

    assert reference_passes(59_000, 5) == 5  # Fashion-MNIST: 5 passes are 4,610 steps
    assert reference_passes(296, 5) == 20 and 20 * 5 >= REFERENCE_MIN_STEPS  # 5 steps a pass (batch 64)
    assert reference_passes(1157, 1) == 6 and reference_passes(1157, 9) == 9
    assert reference_passes(10, 1) == REFERENCE_MIN_STEPS  # one step a pass


def test_the_metric_need_is_the_fewest_test_images_metric_count_accepts():
    """The config check asks a folder's test split for metric_need images a class (it lists exact counts only
    below that); metric_count, the jobs' rule, must accept exactly that many and refuse one fewer."""
    assert [metric_need(k) for k in ("auto", 1, 2, 7)] == [4, 4, 4, 14]
    for per_class in ("auto", 2, 3, 7):
        need = metric_need(per_class)
        assert metric_count([need + 5, need, need + 1], per_class) == (need // 2 if per_class == "auto" else per_class)
        with pytest.raises(GenaugError, match="class 1 has"):
            metric_count([need + 5, need - 1, need + 1], per_class)
    with pytest.raises(GenaugError, match="per_class: 1 is below the least"):
        metric_count([metric_need(1)] * 3, 1)


@pytest.mark.heavy
def test_a_set_is_scored_on_its_first_per_class_images_beside_the_floor(reference, digits, tmp_path):
    x, y = digits.train_x.numpy(), digits.train_y.numpy()
    pick = np.concatenate([np.flatnonzero(y == c)[:2 * PER_CLASS] for c in range(10)])  # 40 real images a class
    _set(tmp_path / "real.npz", x[pick], y[pick])
    noise = np.random.default_rng(0).integers(0, 256, size=(len(pick), *x.shape[1:]), dtype=np.uint8)
    _set(tmp_path / "noise.npz", noise, y[pick])
    real = _score(reference, tmp_path / "real.npz", tmp_path / "real.json", model="real")
    fake = _score(reference, tmp_path / "noise.npz", tmp_path / "noise.json", filter_name="sphere")
    assert real["per_class_count"] == PER_CLASS and real["n_synthetic"] == 10 * PER_CLASS
    floor = json.loads((reference / "floor.json").read_text())
    assert real["floor_domain_fd"] == floor["domain_fd"]
    assert real["floor_yardsticks"] == {k: v["ratio"] for k, v in floor["yardsticks"].items()}
    assert real["domain_fd"] < fake["domain_fd"] / 5 and real["kid"] < fake["kid"]
    assert real["domain_fd"] < 5 * real["floor_domain_fd"]  # real train images sit near the real floor
    assert real["precision"] > 0.6 and real["coverage"] > 0.5
    # Noise's features gather where some real image's 5-NN ball reaches: precision 0.96 under a reference trained
    # 114 steps (0.15 under 38). Density and coverage are PRDC's answer to that (Naeem et al. 2020).
    assert fake["coverage"] < 0.2 and fake["density"] < real["density"] / 3 and fake["recall"] < 0.1
    assert real["label_agreement"] > 0.7 and real["domain_is"] > fake["domain_is"]
    assert real["intra_class_fd"] < fake["intra_class_fd"]
    assert set(real["per_class"]) == {str(c) for c in range(10)}
    assert real["model"] == "real" and fake["filter"] == "sphere" and real["filter"] == "none"
    assert real["inception_fid"] is None  # no weights here: unavailable, with the reason
    assert "no Inception weights" in real["inception_fid_unavailable"] or "missing" in real["inception_fid_unavailable"]
    assert json.loads((tmp_path / "real.json").read_text())["domain_fd"] == pytest.approx(real["domain_fd"])


def _script(name: str):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


@pytest.fixture
def run_layout(reference, digits_cache, tmp_path):
    """A finished run's results/<dataset> as the scripts read it: dataset.npz and reference/."""
    res = tmp_path / "digits"
    res.mkdir()
    (res / "reference").symlink_to(reference)
    (res / "dataset.npz").symlink_to(digits_cache)
    return res


@pytest.mark.heavy
def test_the_prdc_fakes_script_scores_worthless_sets_with_the_runs_own_scoring(run_layout, tmp_path, capsys):
    """scripts/prdc_fakes.py: blank, noise and collapsed sets of the reference's size, each reaching almost none of
    the real images (recall), beside the floor's real images, which reach most of them."""
    assert _script("prdc_fakes").main([str(run_layout), "--json", str(tmp_path / "out.json")]) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["per_class_count"] == PER_CLASS and out["floor"]["recall"] > 0.5
    assert set(out["sets"]) == {"uniform noise", "blank (all 0)", "collapsed (one real image a class)"}
    for name, scores in out["sets"].items():
        assert scores["recall"] < 0.1 and scores["coverage"] < out["floor"]["coverage"] / 2, name
        assert scores["domain_fd"] > 5 * out["floor"]["domain_fd"], name
    assert "blank (all 0): {'domain_fd'" in capsys.readouterr().out


@pytest.mark.heavy
def test_the_yardsticks_by_count_script_draws_as_the_workflow_does_and_refuses_counts_the_split_lacks(
        run_layout, reference, tmp_path, capsys):
    """scripts/yardsticks_by_count.py: at the run's own count it reproduces floor.json (the same draws, network and
    scoring); a count the test split cannot hold twice is refused naming the largest."""
    script = _script("yardsticks_by_count")
    assert script.main([str(run_layout), "--counts", f"3,{PER_CLASS}", "--json", str(tmp_path / "out.json")]) == 0
    rows = json.loads((tmp_path / "out.json").read_text())["rows"]
    floor = json.loads((reference / "floor.json").read_text())
    assert [r["count"] for r in rows] == [3, PER_CLASS] and rows[0]["floor_draws"] > rows[1]["floor_draws"]
    assert rows[1]["floor_domain_fd"] == pytest.approx(floor["domain_fd"])
    assert rows[1]["ratios"] == {k: pytest.approx(v["ratio"], abs=1e-3) for k, v in floor["yardsticks"].items()}
    assert rows[0]["floor_domain_fd"] > rows[1]["floor_domain_fd"]  # FD's small-sample bias: fewer, farther
    with pytest.raises(SystemExit):
        script.main([str(run_layout), "--counts", "500"])
    assert "--counts: the test split's smallest class has" in capsys.readouterr().err


@pytest.mark.heavy
def test_a_set_short_of_a_class_is_not_scored_and_the_reason_names_the_classes(reference, digits, tmp_path):
    """A filter that keeps too few images of a class: no metrics, and the reason names the classes as the dataset
    does (the reference records them), not by index."""
    import shutil

    from genaug.io import load_torch, save_torch

    ckpt = load_torch(reference / "classifier.pt")
    assert ckpt["classes"] == digits.classes
    ref = tmp_path / "reference"
    shutil.copytree(reference, ref)
    save_torch(ref / "classifier.pt", {**{k: v for k, v in ckpt.items() if k != "_sha256"},
                                       "classes": [f"digit {c}" for c in digits.classes]})
    x, y = digits.train_x.numpy(), digits.train_y.numpy()
    pick = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS if c not in (1, 4) else 3 * c] for c in range(10)])
    _set(tmp_path / "short.npz", x[pick], y[pick])
    out = _score(ref, tmp_path / "short.npz", tmp_path / "short.json", filter_name="sphere")
    assert out["status"] == "short" and "domain_fd" not in out
    assert f"fewer than {PER_CLASS} images of class(es) digit 1 3, digit 4 12 to score" in out["reason"]


@pytest.mark.heavy
def test_near_copies_of_the_cells_training_images_are_counted_beside_new_real_images(reference, digits,
                                                                                     digits_cache, tmp_path):
    """With the dataset and the cell's subset, a set of the subset's own images is all near-copies; other real
    images, which the generator never saw, score about what the real floor draw scores."""
    x, y = digits.train_x.numpy(), digits.train_y.numpy()
    per = [np.flatnonzero(y == c) for c in range(10)]
    train = np.concatenate([p[:2 * PER_CLASS] for p in per])
    unseen = np.concatenate([p[2 * PER_CLASS:3 * PER_CLASS] for p in per])
    np.savez(tmp_path / "subset.npz", regime="balanced", size="n400", seed=0, indices=train, labels=y[train],
             counts=np.bincount(y[train]), val_indices=np.array([], dtype=np.int64), classes=np.arange(10).astype(str))
    _set(tmp_path / "copies.npz", x[train], y[train])
    _set(tmp_path / "unseen.npz", x[unseen], y[unseen])
    cell = dict(data=digits_cache, subset=tmp_path / "subset.npz")
    copies = _score(reference, tmp_path / "copies.npz", tmp_path / "copies.json", **cell)
    unseen = _score(reference, tmp_path / "unseen.npz", tmp_path / "unseen.json", **cell)
    assert copies["near_copies"] == 1.0 and unseen["near_copies"] < 0.3 and copies["floor_near_copies"] < 0.3
    assert unseen["near_copies_threshold"] == copies["near_copies_threshold"] > 0
    assert "near_copies" not in _score(reference, tmp_path / "copies.npz", tmp_path / "plain.json")


@pytest.mark.heavy
def test_a_set_short_of_the_count_gets_no_metrics_but_the_reason(reference, digits, tmp_path):
    x, y = digits.train_x.numpy(), digits.train_y.numpy()
    pick = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS if c != 3 else 5] for c in range(10)])
    _set(tmp_path / "s.npz", x[pick], y[pick])
    out = _score(reference, tmp_path / "s.npz", tmp_path / "s.json")
    assert out["status"] == "short" and "class(es) 3 5 to score" in out["reason"] and "domain_fd" not in out


@pytest.mark.heavy
def test_a_diverged_set_gets_no_metrics_but_a_reason(reference, tmp_path):
    _set(tmp_path / "d.npz", np.zeros((0, 1, 28, 28), np.uint8), np.zeros(0, np.int64), status="diverged",
         reason="nan loss")
    out = _score(reference, tmp_path / "d.npz", tmp_path / "d.json")
    assert out["status"] == "diverged" and out["reason"] == "nan loss" and "domain_fd" not in out


# -- cross-checks against reference implementations (test-only dependencies) -------------------------------

def test_prdc_matches_naeem_et_als_reference_code_even_for_a_memorising_generator():
    """The `prdc` package; tolerance: exact (1e-12). Duplicated fakes sit at distance 0 from real points:
    float32 matrix-product distances and `<=` gave density 1.358 and coverage 0.782 here before."""
    from prdc import compute_prdc

    from genaug.metrics import prdc

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(600, 64)), rng.normal(size=(500, 64)) + 0.2
    memorised = np.concatenate([real[:150]] * 4)  # a generator that copies 150 training images
    for r, f in ((real, fake), (real, memorised)):
        ours, theirs = prdc(r, f, k=5), compute_prdc(r, f, nearest_k=5)
        for key in ("precision", "recall", "density", "coverage"):
            assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-12), key


def test_frechet_distance_and_kid_match_torch_fidelity():
    """torch-fidelity's fid_statistics_to_metric and kid_features_to_metric on the same features; tolerance:
    1e-6 relative for FD (both take scipy's sqrtm), 1e-9 for KID on whole sets (one subset of every sample)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    from genaug.metrics import frechet_distance, kid

    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 32))
    b = rng.normal(size=(400, 32)) @ np.diag(rng.uniform(0.5, 1.5, 32)) + 0.3
    stats = [fid_features_to_statistics(torch.from_numpy(v)) for v in (a, b)]
    theirs = fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]
    assert frechet_distance(a, b) == pytest.approx(theirs, rel=1e-6)
    ours, _ = kid(a, b, subsets=1, subset_size=400)
    theirs = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=1, kid_subset_size=400,
                                    kid_degree=3, kid_gamma=None, kid_coef0=1, verbose=False, rng_seed=0)
    assert ours == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-9)


def test_the_frechet_distance_of_two_real_samples_shrinks_with_the_count():
    """Why every set is scored at one count: the same distribution, 128-d, scores far worse at small counts."""
    from genaug.metrics import frechet_distance

    rng = np.random.default_rng(0)
    fd = {n: frechet_distance(rng.normal(size=(n, 128)), rng.normal(size=(n, 128))) for n in (250, 1000, 4000)}
    assert fd[250] > 2 * fd[1000] > 4 * fd[4000]


@pytest.fixture
def stand_in_inception_weights(tmp_path, monkeypatch):
    """A state dict of pytorch-fid's FID Inception with random weights, saved under the real file's name."""
    import pytorch_fid.inception as pi
    from torchvision.models.inception import Inception3

    with monkeypatch.context() as m:  # build the architecture without its download
        m.setattr(pi, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(Inception3, "load_state_dict", lambda self, state, *a, **k: None)
        net = pi.fid_inception_v3()
    path = tmp_path / gcfg.FID_WEIGHTS_NAME
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.slow  # about 35 s: a 2048-d matrix square root and Inception on a CPU
def test_inception_fid_runs_through_pytorch_fid_when_the_weights_file_is_present(digits_cache, digits, reference,
                                                                                  stand_in_inception_weights, tmp_path):
    log = open(tmp_path / "log", "w")
    assert gcfg.find_inception_weights(stand_in_inception_weights)[0] == stand_in_inception_weights
    gm.inception_reference(data=digits_cache, out=tmp_path / "inc.npz", weights=stand_in_inception_weights,
                           per_class=4, device="cpu", log=log)
    with np.load(tmp_path / "inc.npz") as z:
        assert z["mu"].shape == (2048,) and z["sigma"].shape == (2048, 2048) and int(z["n"]) == 40
        assert np.isfinite(float(z["floor_fid"]))
    x, y = digits.train_x.numpy(), digits.train_y.numpy()
    pick = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS] for c in range(10)])
    _set(tmp_path / "s.npz", x[pick], y[pick])
    out = _score(reference, tmp_path / "s.npz", tmp_path / "s.json", inception_stats=tmp_path / "inc.npz",
                 inception_weights_path=stand_in_inception_weights)
    assert np.isfinite(out["inception_fid"]) and out["inception_fid"] >= 0 and out["floor_inception_fid"] is not None
    assert "configured file" in out["inception_weights"]


def test_missing_inception_weights_fail_at_config_time(tmp_path):
    cfg = {"dataset": "digits", "seeds": [0], "grid": {"regimes": ["balanced"], "sizes": [100],
                                                       "models": ["baseline"], "classifiers": ["cnn"]},
           "gen_metrics": {"inception_weights": str(tmp_path / "nope.pth")}}
    with pytest.raises(gcfg.ConfigError, match="gen_metrics.inception_weights: .* is not a file"):
        gcfg.check(cfg)


def test_renamed_keys_are_named_with_their_replacement():
    with pytest.raises(gcfg.ConfigError, match="gen_metrics.reference_images: .* use per_class instead"):
        gcfg.check_renamed({"gen_metrics": {"reference_images": 1000}})
    with pytest.raises(gcfg.ConfigError, match="classifiers.cnn.max_epochs: classifiers train by a budget of "
                                               "optimizer steps.* use max_steps instead"):
        gcfg.check_renamed({"classifiers": {"cnn": {"arch": "cnn", "max_epochs": 30}}})
    gcfg.check_renamed({"classifiers": {"cnn": {"arch": "cnn", "max_steps": 30}}, "gen_metrics": {"per_class": 9}})
