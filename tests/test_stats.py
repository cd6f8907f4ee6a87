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
