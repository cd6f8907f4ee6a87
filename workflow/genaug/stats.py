"""Replicate statistics: means with 95 % t-intervals, and paired differences to the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

CELL = ["dataset", "classifier", "filter", "regime", "size", "size_value"]  # a cell, minus model and seed


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean; (nan, nan) with fewer than two values."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) < 2:
        return (float("nan"), float("nan"))
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return (float(v.mean() - half), float(v.mean() + half))


def summarize(df: pd.DataFrame, value: str = "accuracy") -> pd.DataFrame:
    """Mean, 95 % interval and replicate count of `value` per cell and model."""
    rows = []
    for key, g in df.groupby([*CELL, "model"], sort=True):
        lo, hi = t_interval(g[value])
        rows.append({**dict(zip([*CELL, "model"], key)), "n": len(g), "mean": g[value].mean(), "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def paired_gain(df: pd.DataFrame, value: str = "accuracy", baseline: str = "baseline") -> pd.DataFrame:
    """Per cell and model: the mean of (model - baseline) over seeds both have, with a 95 % t-interval.

    Pairing on the seed compares runs on the same subset with the same classifier initialisation,
    so subset-to-subset variance cancels out of the difference.
    """
    base = df[df["model"] == baseline].set_index([*CELL, "seed"])[value]
    rows = []
    for key, g in df[df["model"] != baseline].groupby([*CELL, "model"], sort=True):
        g = g.set_index([*CELL, "seed"])[value]
        common = g.index.intersection(base.index)
        diff = (g.loc[common] - base.loc[common]).to_numpy()
        lo, hi = t_interval(diff)
        rows.append(
            {
                **dict(zip([*CELL, "model"], key)),
                "n_pairs": len(diff),
                "model_mean": g.loc[common].mean() if len(diff) else np.nan,
                "baseline_mean": base.loc[common].mean() if len(diff) else np.nan,
                "gain": diff.mean() if len(diff) else np.nan,
                "gain_ci_low": lo,
                "gain_ci_high": hi,
                "wins": int((diff > 0).sum()),
            }
        )
    return pd.DataFrame(rows)
