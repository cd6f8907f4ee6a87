"""Replicate statistics: means with 95 % t-intervals, and paired differences to the baseline with
p-values, Holm-corrected across the models compared within a classifier x regime x size.

Intervals are Student-t. With 3 seeds a bootstrap interval would be narrower than the data justify
(it resamples only 3 values), so the t-interval is the honest small-n choice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .config import default_train_set

CELL = ["dataset", "classifier", "filter", "regime", "size", "size_value"]  # a cell, minus model and seed
ARM = ["model", "train_set"]  # what is compared: a model and what its classifier trained on
FAMILY = ["dataset", "classifier", "regime", "size", "size_value"]  # Holm corrects within these
PAIR = [c for c in CELL if c != "filter"]  # a filtered arm pairs with the (unfiltered) baseline of its cell
ALPHA = 0.05


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean; (nan, nan) with fewer than two values."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return (float("nan"), float("nan"))
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return (float(v.mean() - half), float(v.mean() + half))


def paired_p_value(diff) -> float:
    """Two-sided one-sample t-test of the paired differences against 0 (scipy's ttest_rel on the pairs).

    nan with fewer than two pairs; differences that are all equal give 0 (all non-zero) or 1 (all zero)."""
    d = np.asarray(diff, dtype=float)
    if len(d) < 2:
        return float("nan")
    if np.allclose(d, d[0]):
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


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


def with_train_set(df: pd.DataFrame) -> pd.DataFrame:
    """df with a train_set column (summaries written before the training-set axis existed lack it)."""
    return df if "train_set" in df else df.assign(train_set=df["model"].map(default_train_set))


def summarize(df: pd.DataFrame, value: str = "accuracy") -> pd.DataFrame:
    """Mean, 95 % interval and replicate count of `value` per cell, model and training set."""
    rows = []
    for key, g in with_train_set(df).groupby([*CELL, *ARM], sort=True):
        lo, hi = t_interval(g[value])
        rows.append({**dict(zip([*CELL, *ARM], key)), "n": len(g), "mean": g[value].mean(), "ci_low": lo,
                     "ci_high": hi})
    return pd.DataFrame(rows)


def paired_gain(df: pd.DataFrame, value: str = "accuracy", baseline: str = "baseline",
                alpha: float = ALPHA) -> pd.DataFrame:
    """Per cell and arm: the mean of (arm - baseline) over the seeds both have, its 95 % t-interval and
    p-value, and the Holm-corrected p-value and interval across the arms of one classifier x regime x size.

    Pairing on the seed compares runs on the same subset with the same classifier initialisation, so
    subset-to-subset variance cancels out of the difference. The corrected interval of the arm ranked
    r-th (by p-value) among m has level 1 - alpha / (m - r), the level Holm's step tests it at, so it
    excludes 0 exactly when that step rejects; `real` is Holm's decision (which also stops at the first
    step that does not reject)."""
    df = with_train_set(df)
    base = df[df["model"] == baseline].set_index([*PAIR, "seed"])[value]
    rows, diffs = [], []
    for key, g in df[df["model"] != baseline].groupby([*CELL, *ARM], sort=True):
        g = g.set_index([*PAIR, "seed"])[value]
        common = g.index.intersection(base.index)
        diff = (g.loc[common] - base.loc[common]).to_numpy()
        diff = diff[~np.isnan(diff)]
        lo, hi = t_interval(diff)
        rows.append({
            **dict(zip([*CELL, *ARM], key)), "n_pairs": len(diff),
            "model_mean": g.loc[common].mean() if len(diff) else np.nan,
            "baseline_mean": base.loc[common].mean() if len(diff) else np.nan,
            "gain": diff.mean() if len(diff) else np.nan, "gain_ci_low": lo, "gain_ci_high": hi,
            "p_value": paired_p_value(diff), "wins": int((diff > 0).sum()),
        })
        diffs.append(diff)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_holm"], out["holm_m"], out["ci_corr_low"], out["ci_corr_high"] = np.nan, 0, np.nan, np.nan
    for _, idx in out.groupby(FAMILY, sort=False).groups.items():
        idx = np.asarray(idx)
        p = out.loc[idx, "p_value"].to_numpy()
        steps = holm_steps(p)
        out.loc[idx, "p_holm"], out.loc[idx, "holm_m"] = holm(p), len(steps)
        for j, divisor in steps:
            out.loc[idx[j], ["ci_corr_low", "ci_corr_high"]] = t_interval(diffs[idx[j]], level=1 - alpha / divisor)
    out["real"] = out["p_holm"] < alpha
    return out
