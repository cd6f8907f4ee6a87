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
    return pd.DataFrame([{**base, "train_set": "real" if r["model"] in ("baseline", "classic") else "mixed", **r}
                         for r in rows])


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
    # no spread: no test, either way (a zero standard deviation is not infinite significance)
    assert np.isnan(paired_p_value([0.01, 0.01, 0.01])) and np.isnan(paired_p_value([0.0, 0.0]))
    assert np.isnan(paired_p_value([0.3]))


def test_holm_adjusts_a_textbook_example():
    from genaug.stats import holm

    # sorted 0.005 0.01 0.03 0.04 -> x4 x3 x2 x1 = 0.02 0.03 0.06 0.04 -> monotone 0.02 0.03 0.06 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005, np.nan])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])


@pytest.mark.heavy
def test_holm_matches_statsmodels_multipletests():
    """Cross-check against statsmodels (a test-only dependency); tolerance: float round-off (1e-12). Ten draws per
    family size: multipletests takes about 50 ms a call, and 250 calls cost 96 s of a CI run."""
    from statsmodels.stats.multitest import multipletests

    from genaug.stats import holm

    rng = np.random.default_rng(3)
    for m in (1, 2, 3, 5, 12):
        for _ in range(10):
            p = rng.uniform(0, 0.2, m) ** rng.uniform(0.5, 3)
            reject, adjusted, *_ = multipletests(p, alpha=0.05, method="holm")
            assert holm(p) == pytest.approx(adjusted, abs=1e-12)
            assert ((holm(p) < 0.05) == reject).all()


def test_equal_paired_differences_make_no_claim():
    """Two seeds that both gain +0.001 are not a certain gain: no interval, no p, no star."""
    rows = [dict(model="baseline", seed=s, accuracy=0.8 + s / 100) for s in range(2)]
    rows += [dict(model="vae", seed=s, accuracy=0.801 + s / 100) for s in range(2)]
    rows += [dict(model="classic", seed=s, accuracy=0.7 + s / 50) for s in range(2)]
    g = paired_gain(frame(rows)).set_index("model")
    vae = g.loc["vae"]
    assert vae.gain == pytest.approx(0.001) and vae.claim == "no spread" and not vae.real
    assert np.isnan(vae.p_value) and np.isnan(vae.p_holm) and np.isnan(vae.gain_ci_low) and np.isnan(vae.ci_corr_low)
    assert g.loc["classic", "claim"] == "tested" and g.loc["classic", "holm_m"] == 1  # the untested arm is not in m


def test_equal_differences_that_float_round_off_tells_apart_make_no_claim():
    """A real run's accuracies (84 test images): each seed lost 5 images, but 0.4405 - 0.5 and 0.4881 - 0.5476
    differ in their 17th digit. Compared exactly, 2 seeds gave p 3e-15, a zero-width interval and 'avoid'."""
    base, model = [0.5, 0.5476190476190477], [0.44047619047619047, 0.4880952380952381]
    rows = [dict(model="baseline", seed=s, accuracy=a) for s, a in enumerate(base)]
    rows += [dict(model="gan", seed=s, accuracy=a) for s, a in enumerate(model)]
    gan = paired_gain(frame(rows)).set_index("model").loc["gan"]
    assert gan.gain == pytest.approx(-5 / 84)
    assert gan.claim == "no spread" and not gan.real
    assert np.isnan(gan.p_value) and np.isnan(gan.gain_ci_low)
    assert np.isnan(t_interval([1e6 + 1e-7, 1e6])[0])  # relative to the values' size: an FD of a million
    assert not np.isnan(t_interval([1.0, 1.0 + 1e-6])[0])  # an accuracy step of one in a million is a spread


def test_holm_stops_at_the_first_arm_it_keeps_and_the_intervals_agree():
    """p = 0.031, 0.033, 0.046 (m 3): Holm rejects nothing (adjusted 0.093), although the third arm's own
    step level (1 - 0.05/1) would exclude 0; the simultaneous intervals (1 - 0.05/3) all include 0."""
    from scipy import stats as st

    base = [0.80, 0.81, 0.79, 0.82, 0.78]
    z = np.array([-2, -1, 0, 1, 2]) / np.std([-2, -1, 0, 1, 2], ddof=1)  # mean 0, sd 1
    rows = [dict(model="baseline", seed=s, accuracy=a) for s, a in enumerate(base)]
    for model, target in (("a", 0.031), ("b", 0.033), ("c", 0.046)):
        d = st.t.isf(target / 2, 4) * 0.01 / np.sqrt(5)  # mean difference giving the two-sided p `target`
        rows += [dict(model=model, seed=s, accuracy=b + d + 0.01 * e) for s, (b, e) in enumerate(zip(base, z))]
    g = paired_gain(frame(rows)).set_index("model")
    assert g["p_value"].to_numpy() == pytest.approx([0.031, 0.033, 0.046], abs=1e-6)
    assert not g["real"].any() and g["p_holm"].to_numpy() == pytest.approx([0.093, 0.093, 0.093], abs=1e-6)
    assert (g["ci_corr_low"] < 0).all()
    diffs = np.array([r["accuracy"] for r in rows if r["model"] == "c"]) - np.array(base)
    assert t_interval(diffs, level=0.95)[0] > 0  # what the old per-step interval (level 1 - 0.05/1) showed


@pytest.mark.heavy
def test_a_simultaneous_interval_that_excludes_zero_always_marks_a_real_gain():
    rng = np.random.default_rng(0)
    seen = {"both": 0, "real only": 0}
    for trial in range(300):
        base = rng.uniform(0.7, 0.8, 3)
        rows = [dict(model="baseline", seed=s, accuracy=a) for s, a in enumerate(base)]
        for i, shift in enumerate(rng.normal(0.01, 0.01, 3)):
            rows += [dict(model=f"m{i}", seed=s, accuracy=a + shift + e)
                     for s, (a, e) in enumerate(zip(base, rng.normal(0, 0.005, 3)))]
        g = paired_gain(frame(rows))
        excludes = (g["ci_corr_low"] > 0) | (g["ci_corr_high"] < 0)
        assert not (excludes & ~g["real"]).any(), trial
        seen["both"] += int((excludes & g["real"]).sum())
        seen["real only"] += int((~excludes & g["real"]).sum())
        assert (g["p_holm"] >= g["p_value"]).all()
        assert ((g["ci_corr_high"] - g["ci_corr_low"]) >= (g["gain_ci_high"] - g["gain_ci_low"])).all()
    assert seen["both"] > 0 and seen["real only"] > 0  # Holm is the more powerful: both cases occur


def test_holm_corrects_within_a_classifier_regime_and_size_only():
    rows = []
    for size in ("n100", "n200"):
        for s in range(3):
            rows += [dict(model="baseline", seed=s, accuracy=0.7 + s / 100, size=size),
                     dict(model="vae", seed=s, accuracy=0.72 + s / 90, size=size),
                     dict(model="cgan", seed=s, accuracy=0.69 + s / 80, size=size)]
    g = paired_gain(frame(rows))
    assert (g["holm_m"] == 2).all() and len(g) == 4


def test_blocked_rank_correlation_keeps_cells_apart():
    """Within each cell the metric ranks the gains perfectly; across cells the cell effect (a bigger cell
    gains less and has a larger FD) would make a pooled Spearman negative for the wrong reason."""
    from scipy.stats import spearmanr

    from genaug.stats import blocked_rank_correlation

    rows = []
    for cell, (fd0, gain0) in enumerate([(10, 0.05), (30, 0.00), (50, -0.05)]):
        for arm in range(4):
            rows.append({"regime": "r", "size": f"n{cell}", "fd": fd0 + arm, "gain": gain0 + 0.001 * arm})
    df = pd.DataFrame(rows)
    t = blocked_rank_correlation(df, "fd", "gain", ["regime", "size"], permutations=2000)
    assert t["rho"] == pytest.approx(1.0) and t["blocks"] == 3 and t["n"] == 12
    assert t["p"] < 0.01 and all(b["rho"] == pytest.approx(1.0) for b in t["per_block"])
    assert spearmanr(df["fd"], df["gain"])[0] < -0.5  # what pooling the raw points would have said
    order = [2, 0, 3, 1]  # within every cell, gains no longer follow the metric
    shuffled = df.assign(gain=df.groupby("size")["gain"].transform(lambda g: g.to_numpy()[order]))
    assert blocked_rank_correlation(shuffled, "fd", "gain", ["regime", "size"], permutations=2000)["p"] > 0.2
    one = blocked_rank_correlation(df[df["size"] == "n0"], "fd", "gain", ["regime", "size"])
    assert np.isnan(one["rho"]) and one["blocks"] == 1


def test_seeds_needed_matches_statsmodels_sample_size_and_says_when_it_cannot():
    """Reference: statsmodels' TTestPower.solve_power (the noncentral-t power of the two-sided one-sample test),
    rounded up to whole seeds, at the family's corrected level alpha / m."""
    from statsmodels.stats.power import TTestPower

    from genaug.stats import MOST_SEEDS, seeds_needed

    rng = np.random.default_rng(5)
    for _ in range(12):
        d, m = rng.normal(0.03, 0.02, 3), int(rng.integers(1, 7))
        effect = abs(d.mean()) / d.std(ddof=1)
        if effect > 5:  # statsmodels' power is nan there (scipy's noncentral t underflows on the wrong side)
            continue
        reference = TTestPower().solve_power(effect_size=effect, alpha=0.05 / m, power=0.8, alternative="two-sided")
        expect = np.ceil(reference) if reference <= MOST_SEEDS else np.inf
        assert seeds_needed(d, m) == expect
    assert seeds_needed([0.05, 0.04, 0.06], 1) < seeds_needed([0.05, 0.04, 0.06], 6)  # correcting costs seeds
    assert seeds_needed([-0.05, -0.04, -0.06], 2) == seeds_needed([0.05, 0.04, 0.06], 2)  # either sign
    assert seeds_needed([0.001, -0.03, 0.03], 1) == np.inf  # a gain far inside its spread
    big = [0.02616, 0.03, 0.03384]  # effect 7.8 at m 3: power 0.23 at 2 seeds, 0.95 at 3
    assert abs(np.mean(big)) / np.std(big, ddof=1) == pytest.approx(7.7, abs=0.2) and seeds_needed(big, 3) == 3
    for untestable in ([0.02], [0.02, 0.02, 0.02], [0.01, -0.01, 0.0], [0.01, 0.03]):  # two seeds: no projection,
        assert np.isnan(seeds_needed(untestable, 1))  # the table's column as the answer's line (it printed 18 there)
