"""Replicate statistics: t-intervals and gains paired on the seed."""

import numpy as np
import pandas as pd
import pytest

from genaug.stats import paired_gain, summarize, t_interval


def test_t_interval_matches_the_textbook_value():
    lo, hi = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.3027
    assert lo == pytest.approx(2 - 4.302653 / np.sqrt(3), rel=1e-5)
    assert hi == pytest.approx(2 + 4.302653 / np.sqrt(3), rel=1e-5)
    assert all(np.isnan(t_interval([0.5])))


def frame(rows):
    base = dict(dataset="d", classifier="cnn", filter="none", regime="balanced", size="n100", size_value=100)
    return pd.DataFrame([{**base, **r} for r in rows])


def test_paired_gain_pairs_on_the_seed_and_drops_unpaired_runs():
    df = frame([
        dict(model="baseline", seed=0, accuracy=0.70), dict(model="baseline", seed=1, accuracy=0.80),
        dict(model="vae", seed=0, accuracy=0.72), dict(model="vae", seed=1, accuracy=0.83),
        dict(model="vae", seed=2, accuracy=0.10),  # no baseline for seed 2: not paired
    ])
    g = paired_gain(df).iloc[0]
    assert g.n_pairs == 2 and g.wins == 2
    assert g.gain == pytest.approx(0.025)
    lo, hi = t_interval([0.02, 0.03])
    assert (g.gain_ci_low, g.gain_ci_high) == pytest.approx((lo, hi))


def test_summarize_gives_mean_and_interval_per_model():
    df = frame([dict(model="baseline", seed=s, accuracy=a) for s, a in enumerate([0.7, 0.8, 0.9])])
    row = summarize(df).iloc[0]
    assert row["n"] == 3 and row["mean"] == pytest.approx(0.8)
    assert row["ci_low"] < 0.8 < row["ci_high"]


def test_paired_p_value_matches_scipys_paired_t_test():
    from scipy.stats import ttest_rel

    from genaug.stats import paired_p_value

    model, base = np.array([0.81, 0.84, 0.79, 0.83]), np.array([0.80, 0.80, 0.78, 0.80])
    assert paired_p_value(model - base) == pytest.approx(ttest_rel(model, base).pvalue)
    assert paired_p_value([0.01, 0.01]) == 0.0 and paired_p_value([0.0, 0.0]) == 1.0
    assert np.isnan(paired_p_value([0.3]))


def test_holm_adjusts_a_textbook_example():
    from genaug.stats import holm

    # sorted 0.005 0.01 0.03 0.04 -> x4 x3 x2 x1 = 0.02 0.03 0.06 0.04 -> monotone 0.02 0.03 0.06 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005, np.nan])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])


def test_gains_are_real_only_when_the_holm_corrected_interval_excludes_zero():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.7, 0.8, 4)
    shifts = {"big": 0.05, "small": 0.004, "none": 0.0, "worse": -0.03}
    rows = [dict(model="baseline", seed=s, accuracy=a) for s, a in enumerate(base)]
    for model, shift in shifts.items():
        noise = rng.normal(0, 0.004, 4)
        rows += [dict(model=model, seed=s, accuracy=a + shift + e) for s, (a, e) in enumerate(zip(base, noise))]
    g = paired_gain(frame(rows)).set_index("model")
    assert (g["holm_m"] == 4).all()
    assert g.loc["big", "real"] and g.loc["worse", "real"] and not g.loc["none", "real"]
    for model, r in g.iterrows():
        excludes = r.ci_corr_low > 0 or r.ci_corr_high < 0
        assert excludes == r.real, model
        # the corrected interval is never narrower than the plain 95 % one
        assert r.ci_corr_low <= r.gain_ci_low and r.ci_corr_high >= r.gain_ci_high
    assert (g["p_holm"] >= g["p_value"]).all()


def test_holm_corrects_within_a_classifier_regime_and_size_only():
    rows = []
    for size in ("n100", "n200"):
        for s in range(3):
            rows += [dict(model="baseline", seed=s, accuracy=0.7 + s / 100, size=size),
                     dict(model="vae", seed=s, accuracy=0.72 + s / 90, size=size),
                     dict(model="cgan", seed=s, accuracy=0.69 + s / 80, size=size)]
    g = paired_gain(frame(rows))
    assert (g["holm_m"] == 2).all() and len(g) == 4
