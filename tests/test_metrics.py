"""Generative metrics against known cases: Fréchet distance, KID, PRDC, the Inception Score analogue."""

import numpy as np
import pytest
import torch

from genaug.errors import GenaugError
from genaug.metrics import NearCopies, frechet_distance, inception_score, kid, prdc


def test_a_set_is_at_distance_about_zero_from_itself():
    a = np.random.default_rng(0).normal(size=(2000, 8))
    assert abs(frechet_distance(a, a)) < 1e-6


def test_gaussians_give_the_closed_form():
    """N(0, I) vs N(m, s^2 I) in d dims: |m|^2 + d (1 - s)^2, from 20,000 samples each."""
    rng = np.random.default_rng(1)
    d, m, s = 4, np.array([1.0, -2.0, 0.0, 0.5]), 2.0
    a = rng.normal(size=(20000, d))
    b = m + s * rng.normal(size=(20000, d))
    expected = float((m ** 2).sum() + d * (1 - s) ** 2)  # 5.25 + 4 = 9.25
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


def test_singular_covariances_stay_finite_and_too_few_samples_are_refused():
    a = np.zeros((50, 3))
    a[:, 0] = np.random.default_rng(2).normal(size=50)
    assert np.isfinite(frechet_distance(a, a + 1.0))
    with pytest.raises(GenaugError, match="at least 2 samples"):
        frechet_distance(a[:1], a)


@pytest.mark.heavy
def test_kid_is_about_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same, se = kid(a, b, subsets=50, subset_size=200)
    assert se > 0 and abs(same) < 3 * se  # unbiased: no small-sample offset
    shifted, shifted_se = kid(a, b + 1.0, subsets=50, subset_size=200)
    assert shifted > 10 * shifted_se and shifted > 50 * max(abs(same), 1e-4)
    # the standard error is conservative: above the scatter of repeated draws, but not wildly (measured ~3x)
    draws = [kid(rng.normal(size=(600, 16)), rng.normal(size=(600, 16)), subsets=10, subset_size=200)[0]
             for _ in range(20)]
    assert np.std(draws) < se < 6 * np.std(draws)


def test_prdc_is_about_one_on_identical_sets_and_falls_for_disjoint_ones():
    a = np.random.default_rng(4).normal(size=(500, 8))
    same = prdc(a, a.copy(), k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] == pytest.approx(1.0, abs=0.3)  # each point sits in ~k balls of the other set
    far = prdc(a, a + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    half = prdc(a, a[:250] + np.array([100.0] + [0.0] * 7), k=5)  # a mode dropped
    assert half["coverage"] == 0.0 and half["recall"] == 0.0
    tail = prdc(a, a[a[:, 0] > 1.0], k=5)  # real points from one tail only (~16 %): precise, not covering
    assert tail["precision"] == 1.0 and tail["coverage"] < 0.4


def test_inception_score_spans_one_to_the_number_of_classes():
    confident = np.eye(10)[np.arange(100) % 10]
    assert inception_score(confident) == pytest.approx(10, rel=1e-6)
    assert inception_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)
    assert inception_score(np.eye(10)[np.zeros(100, dtype=int)]) == pytest.approx(1.0)


def test_near_copies_tells_copied_training_images_from_new_ones():
    """On real digits: lightly perturbed training images are near-copies, unseen digits are not (about the
    5 % of held-out images that fall below the threshold by its definition)."""
    from sklearn.datasets import load_digits
    x = load_digits().images.astype(np.float64) / 16
    train, held, new, unseen = x[:400], x[400:800], x[800:1200], x[1200:1600]
    rng = np.random.default_rng(0)
    score = NearCopies(train, held, unseen=unseen)
    copied = score(train[:300] + rng.normal(0, 0.01, train[:300].shape))
    fresh = score(new)
    assert copied["share"] > 0.95 and copied["median"] < 0.2 * copied["held_out_median"]
    assert fresh["share"] < 0.15 and fresh["threshold"] == copied["threshold"]
    # nearer to the training set than to other real images: copies far below 1, new and held-out images about 1
    assert copied["ratio"] < 0.2 and 0.85 < fresh["ratio"] < 1.15 and 0.85 < fresh["held_out_ratio"] < 1.15
    assert "ratio" not in NearCopies(train, held)(new)
    as_uint8 = NearCopies(*(torch.from_numpy(np.round(a * 255).astype(np.uint8)) for a in (train, held)))
    assert as_uint8.threshold == NearCopies(np.round(train * 255) / 255, np.round(held * 255) / 255).threshold
    with pytest.raises(GenaugError, match="at least one"):
        score(new[:0])
    with pytest.raises(GenaugError, match="at least one"):
        NearCopies(train, held[:0])


def test_the_near_copies_script_reads_a_cell_and_its_sets(tmp_path, capsys):
    """scripts/near_copies.py on a results folder laid out as the workflow writes it (digits as uint8)."""
    import importlib.util
    import json
    from pathlib import Path

    import torch
    from sklearn.datasets import load_digits

    from genaug.data import Dataset, save_dataset
    from genaug.subsets import Subset
    digits = load_digits()
    x, y = torch.from_numpy((digits.images[:, None] * 255 / 16).astype(np.uint8)), torch.from_numpy(digits.target)
    save_dataset(Dataset("digits", [str(c) for c in range(10)], x[:1000], y[:1000], x[1000:], y[1000:]),
                 tmp_path / "dataset.npz")
    (tmp_path / "subsets/balanced/n300").mkdir(parents=True)
    idx = np.arange(300)
    Subset("balanced", "n300", 0, idx, y[:300].numpy(), np.bincount(y[:300].numpy()), np.arange(300, 400),
           [str(c) for c in range(10)]).save(tmp_path / "subsets/balanced/n300/s0.npz")
    x = x.numpy()
    np.savez(tmp_path / "copies.npz", images=x[:200])
    path = Path(__file__).resolve().parents[1] / "scripts" / "near_copies.py"
    spec = importlib.util.spec_from_file_location("near_copies", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "rows.json"
    assert script.main([str(tmp_path), "balanced/n300/s0", str(tmp_path / "copies.npz"), "--held-out-per-class",
                        "20", "--json", str(out)]) == 0
    row = json.loads(out.read_text())[str(tmp_path / "copies.npz")]
    assert row["share"] == 1.0 and row["ratio"] == 0.0  # an unseen set as large as the subset fits the test split
    assert script.main([str(tmp_path), "balanced/n999/s0", str(tmp_path / "copies.npz")]) == 2
    assert "n999" in capsys.readouterr().err
