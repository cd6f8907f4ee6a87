"""Replicate statistics: means with 95 % t-intervals, and paired differences to the baseline with
p-values, Holm-corrected across the arms compared within a classifier x regime x size.

Intervals are Student-t. With 3 seeds a bootstrap interval would be narrower than the data justify
(it resamples only 3 values), so the t-interval is the honest small-n choice. A set of values with no
spread (every seed the same) has no t-interval and its difference makes no claim: a t-test of a zero
standard deviation is undefined, not infinitely significant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from . import streams
from .aggregate import check_columns

CELL = ["dataset", "classifier", "filter", "regime", "size", "size_value"]  # a cell, minus model and seed
ARM = ["model", "train_set"]  # what is compared: a model and what its classifier trained on
FAMILY = ["dataset", "classifier", "regime", "size", "size_value"]  # Holm corrects within these
PAIR = [c for c in CELL if c != "filter"]  # a filtered arm pairs with the (unfiltered) baseline of its cell
ALPHA = 0.05
MIN_SEEDS = 3  # fewer seeds than this: the report warns that its intervals are very wide or missing


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[~np.isnan(v)]


# Values closer than this (relative to the largest, at least 1) are equal. Accuracies are k / N, and the paired
# difference of two of them carries float round-off: 0.4405 - 0.5 and 0.4881 - 0.5476 (5/84 both) differ in the
# 17th digit. Compared exactly, that round-off was a spread, and 2 seeds made a p of 1e-15 out of it.
SAME_VALUE = 1e-9


def no_spread(values) -> bool:
    """Two or more values, all equal (within SAME_VALUE): a mean with no measured spread, which supports no
    interval or test."""
    v = _finite(values)
    return len(v) >= 2 and bool(np.ptp(v) <= SAME_VALUE * max(1.0, float(np.abs(v).max())))


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean; (nan, nan) with fewer than two values or no spread."""
    v = _finite(values)
    if len(v) < 2 or no_spread(v):
        return (float("nan"), float("nan"))
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return (float(v.mean() - half), float(v.mean() + half))


def shown_gain_interval(lo: float, hi: float) -> tuple[float, float]:
    """A gain's interval as printed (report and `genaug show`): clipped to [-1, 1], since two accuracies differ by
    at most 1 and a t-interval from few seeds can run past it; gains.csv keeps the raw interval."""
    return max(lo, -1.0), min(hi, 1.0)


def paired_p_value(diff) -> float:
    """Two-sided one-sample t-test of the paired differences against 0 (scipy's ttest_rel on the pairs).

    nan with fewer than two pairs, and nan when the differences have no spread (all equal): such a
    comparison makes no claim either way, however many seeds agree."""
    d = _finite(diff)
    if len(d) < 2 or no_spread(d):
        return float("nan")
    return float(stats.ttest_1samp(d, 0.0).pvalue)


POWER = 0.8  # the chance of a real gain that `seeds_needed` plans for
MOST_SEEDS = 100  # beyond this many seeds a projection says "more than": the gain is too small for its spread


def seeds_needed(diff, m: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Seeds at which a paired t-test at level alpha / m (Holm's first step, Bonferroni's every step) has `power`
    to find a difference, if the true mean and spread of the differences are the observed ones: exact power of the
    two-sided test from the noncentral t, as in sample-size tables (statsmodels' TTestPower). A projection from
    a few seeds, so a guide to how many to add, not a promise: the observed gain of the best of several arms
    tends to be too large. nan where the differences support no test (no spread or a zero mean) or come from fewer
    than MIN_SEEDS seeds (two estimate the spread too poorly to project from); inf past MOST_SEEDS."""
    d = _finite(diff)
    if len(d) < MIN_SEEDS or no_spread(d) or d.mean() == 0 or m < 1:
        return float("nan")
    effect = abs(d.mean()) / d.std(ddof=1)
    for n in range(2, MOST_SEEDS + 1):
        crit = stats.t.ppf(1 - alpha / m / 2, n - 1)
        shift = effect * np.sqrt(n)
        wrong_side = np.nan_to_num(stats.nct.cdf(-crit, n - 1, shift))  # nan where it underflows (a large shift)
        if stats.nct.sf(crit, n - 1, shift) + wrong_side >= power:
            return float(n)
    return float("inf")


def holm_steps(p_values) -> list[tuple[int, int]]:
    """Holm's steps: (position, divisor m - rank) of each non-nan p-value, smallest p first."""
    p = np.asarray(p_values, dtype=float)
    ok = np.flatnonzero(~np.isnan(p))
    return [(int(i), len(ok) - rank) for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")])]


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (nan entries stay nan and do not count in m)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    running = 0.0
    for i, divisor in holm_steps(p):
        running = max(running, min(1.0, divisor * p[i]))
        out[i] = running
    return out


def paired_diff(a: pd.Series, b: pd.Series) -> dict:
    """a - b over the keys (seeds) both have: mean, 95 % t-interval, p-value and the number of pairs."""
    common = a.dropna().index.intersection(b.dropna().index)
    d = (a.loc[common] - b.loc[common]).to_numpy(dtype=float)
    lo, hi = t_interval(d)
    return {"diff": float(d.mean()) if len(d) else float("nan"), "ci_low": lo, "ci_high": hi,
            "p_value": paired_p_value(d), "n_pairs": len(d)}


def summarize(df: pd.DataFrame, value: str = "accuracy") -> pd.DataFrame:
    """Mean, 95 % interval and replicate count of `value` per cell, model and training set."""
    rows = []
    for key, g in df.groupby([*CELL, *ARM], sort=True):
        lo, hi = t_interval(g[value])
        rows.append({**dict(zip([*CELL, *ARM], key)), "n": len(g), "mean": g[value].mean(), "ci_low": lo,
                     "ci_high": hi})
    return pd.DataFrame(rows)


def paired_gain(df: pd.DataFrame, value: str = "accuracy", baseline: str = "baseline",
                alpha: float = ALPHA) -> pd.DataFrame:
    """Per cell and arm: the mean of (arm - baseline) over the seeds both have, its 95 % t-interval and
    p-value, Holm's adjusted p-value across the arms of one classifier x regime x size, and a
    simultaneous (Bonferroni) interval for that family.

    Pairing on the seed compares runs on the same subset with the same classifier initialisation, so
    subset-to-subset variance cancels out of the difference. `real` is Holm's decision (adjusted p
    below alpha). The corrected interval has level 1 - alpha / m for each of the family's m tested arms,
    so all m cover their true gains together with probability at least 1 - alpha. Holm rejects
    everything Bonferroni does and sometimes more, so a corrected interval that excludes 0 always
    belongs to a real gain, while a real gain's interval may still touch 0. `claim` says why an arm is
    not tested: `one seed`, or `no spread` (every paired difference equal). `seeds_needed` is how many seeds
    would give the family's corrected test POWER at the observed gain and spread (the function of that name)."""
    base = df[df["model"] == baseline].set_index([*PAIR, "seed"])[value]
    rows, diffs = [], []
    for key, g in df[df["model"] != baseline].groupby([*CELL, *ARM], sort=True):
        g = g.set_index([*PAIR, "seed"])[value]
        common = g.index.intersection(base.index)
        diff = (g.loc[common] - base.loc[common]).to_numpy()
        diff = diff[~np.isnan(diff)]
        lo, hi = t_interval(diff)
        claim = "one seed" if len(diff) < 2 else "no spread" if no_spread(diff) else "tested"
        rows.append({
            **dict(zip([*CELL, *ARM], key)), "n_pairs": len(diff),
            "model_mean": g.loc[common].mean() if len(diff) else np.nan,
            "baseline_mean": base.loc[common].mean() if len(diff) else np.nan,
            "gain": diff.mean() if len(diff) else np.nan, "gain_ci_low": lo, "gain_ci_high": hi,
            "p_value": paired_p_value(diff), "wins": int((diff > 0).sum()), "claim": claim,
        })
        diffs.append(diff)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_holm"], out["holm_m"], out["ci_corr_low"], out["ci_corr_high"] = np.nan, 0, np.nan, np.nan
    out["seeds_needed"] = np.nan
    for _, idx in out.groupby(FAMILY, sort=False).groups.items():
        idx = np.asarray(idx)
        p = out.loc[idx, "p_value"].to_numpy()
        m = int((~np.isnan(p)).sum())
        out.loc[idx, "p_holm"], out.loc[idx, "holm_m"] = holm(p), m
        for j in np.flatnonzero(~np.isnan(p)):
            out.loc[idx[j], ["ci_corr_low", "ci_corr_high"]] = t_interval(diffs[idx[j]], level=1 - alpha / m)
            out.loc[idx[j], "seeds_needed"] = seeds_needed(diffs[idx[j]], m, alpha)
    out["real"] = out["p_holm"] < alpha
    return out


def blocked_rank_correlation(df: pd.DataFrame, x: str, y: str, blocks: list[str], permutations: int = 9999,
                             seed: int = 0) -> dict:
    """Spearman's rank correlation of x and y within each block (e.g. a classifier x regime x size: the
    arms there share one baseline and one amount of data), and pooled over blocks with the blocks kept
    apart: ranks are taken and centred within each block before they are correlated, and the p-value
    permutes y within blocks only. Pooling raw points would let the blocks' differences (size, balance)
    pass for a correlation and treat the points as independent.

    Returns {"per_block": [{block values, n, rho}], "rho", "p", "n", "blocks"} (rho and p nan when fewer
    than two blocks have two or more points, or nothing varies)."""
    sub = df[[*blocks, x, y]].dropna()
    groups = [g for _, g in sub.groupby(blocks, sort=True)]
    per_block, centred = [], []
    for g in groups:
        row = {**{b: g[b].iloc[0] for b in blocks}, "n": len(g), "rho": np.nan}
        if len(g) >= 3 and g[x].nunique() > 1 and g[y].nunique() > 1:
            row["rho"] = float(stats.spearmanr(g[x], g[y])[0])
        per_block.append(row)
        if len(g) >= 2:
            rx, ry = stats.rankdata(g[x]), stats.rankdata(g[y])
            centred.append((rx - rx.mean(), ry - ry.mean()))
    out = {"per_block": per_block, "rho": np.nan, "p": np.nan, "n": sum(len(a) for a, _ in centred),
           "blocks": len(centred)}
    if len(centred) < 2:
        return out
    rx = np.concatenate([a for a, _ in centred])

    def rho(ry_blocks):
        ry = np.concatenate(ry_blocks)
        denominator = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
        return float((rx * ry).sum() / denominator) if denominator > 0 else np.nan

    observed = rho([b for _, b in centred])
    if np.isnan(observed):
        return out
    rng = streams.rng("permutations", seed)
    ry_all = [b for _, b in centred]
    hits = sum(abs(rho([rng.permutation(b) for b in ry_all])) >= abs(observed) - 1e-12 for _ in range(permutations))
    return {**out, "rho": observed, "p": (1 + hits) / (1 + permutations)}


CONVERGED = 0.005  # an arm's mean test accuracy may move at most this much when the patience is doubled


def convergence_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per arm (classifier, regime, size, model, training set) and convergence check: the mean test accuracy
    of the shorter rule and of the run's own rule over the seeds, and the change, from summary.csv's
    accuracy_check_p<patience>_c<cap> columns (the same training stopped earlier)."""
    keys = ["classifier", "regime", "size_value", "size", "model", "train_set"]
    rows = []
    for col, check in check_columns(df).items():
        patience, cap = check["patience_steps"], check["max_steps"]
        for key, g in df.dropna(subset=[col]).groupby(keys, sort=True):
            rows.append({**dict(zip(keys, key)), "check_patience_steps": patience, "check_max_steps": cap,
                         "seeds": len(g), "accuracy_check": float(g[col].mean()),
                         "accuracy_run": float(g["accuracy"].mean()),
                         "change": float((g["accuracy"] - g[col]).mean()),
                         "largest_seed_change": float((g["accuracy"] - g[col]).abs().max())})
    return pd.DataFrame(rows)
