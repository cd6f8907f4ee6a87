"""The grid's answer, computed once from summary.csv: every paired gain (gains.csv) and, per cell, which arm to
use. The HTML report and `genaug show` both read it from here, so the page and the terminal cannot disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from .errors import GenaugError
from .io import write_csv
from .stats import MIN_SEEDS, MOST_SEEDS, POWER, paired_gain, shown_gain_interval

ORDER = ["classifier", "regime", "size_value", "train_set", "model"]  # sizes numerically, not as strings
# gains.csv: one row per cell and arm (a model, and what its classifier trained on), paired on the seed.
GAIN_COLUMNS = ["dataset", "classifier", "regime", "size", "size_value", "model", "train_set", "n_pairs",
                "baseline_mean", "model_mean", "gain", "gain_ci_low", "gain_ci_high", "p_value", "holm_m", "p_holm",
                "ci_corr_low", "ci_corr_high", "seeds_needed", "real", "wins", "claim"]


# gains_over_real_arms.csv: each generator arm (trained on real + synthetic) against each real-image arm of its
# cell other than the baseline (classic augmentation, oversampling), paired on the seed; Holm within a cell and
# reference. A generator earns its place only where it also beats what needs no generator.
OVER_REAL_COLUMNS = ["dataset", "classifier", "regime", "size", "size_value", "reference", "model", "train_set",
                     "n_pairs", "reference_mean", "model_mean", "gain", "gain_ci_low", "gain_ci_high", "p_value",
                     "holm_m", "p_holm", "ci_corr_low", "ci_corr_high", "seeds_needed", "real", "wins", "claim"]


def arm_label(model: str, train_set: str) -> str:
    """A row's name in figures: the model, with `[synthetic only]` for its CAS classifier."""
    return f"{model} [synthetic only]" if train_set == "synthetic" else model


def label_filtered(df: pd.DataFrame) -> pd.DataFrame:
    """Filtered arms as rows of their own (`gan | sphere`), so figures and tables keep them apart from the
    unfiltered set of the same generator; each still pairs with its cell's baseline."""
    if "filter" not in df or (df["filter"] == "none").all():
        return df
    df = df.copy()
    filtered = df["filter"] != "none"
    df.loc[filtered, "model"] = df.loc[filtered, "model"] + " | " + df.loc[filtered, "filter"]
    df["filter"] = "none"
    return df


def load_runs(summary_csv) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(scored runs, every run as read, diverged runs): diverged cells trained nothing, so they are listed and
    never ranked."""
    try:
        df = pd.read_csv(summary_csv, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise GenaugError(f"{summary_csv}: not a readable summary ({err}); run snakemake to write it") from err
    if "train_set" not in df:
        raise GenaugError(f"{summary_csv}: no train_set column (a summary written by an earlier genaug); "
                          "rewrite it with `snakemake --forcerun aggregate`")
    raw = df.copy()
    df = label_filtered(df).sort_values(["regime", "size_value", "model", "seed"], kind="stable")
    diverged = df[df["status"] == "diverged"] if "status" in df else df.iloc[:0]
    return df.drop(diverged.index), raw, diverged


def gains(df: pd.DataFrame) -> pd.DataFrame:
    """Every arm's paired gain over its cell's baseline (stats.paired_gain), in the report's order."""
    out = paired_gain(df)
    if out.empty:
        return out
    out = out.sort_values(ORDER, kind="stable")
    out["arm"] = [arm_label(m, t) for m, t in zip(out["model"], out["train_set"])]
    return out


def gains_over_real_arms(df: pd.DataFrame) -> pd.DataFrame:
    """Every generator arm's paired gain over each real-image arm of its cell but the baseline (the arms whose
    classifier trains on `real`: classic augmentation, oversampling), from scored runs (load_runs). Empty when the
    grid has no such arm."""
    references = sorted(set(df.loc[(df["train_set"] == "real") & (df["model"] != "baseline"), "model"]))
    parts = []
    for ref in references:
        pair = df[(df["model"] == ref) | (df["train_set"] == "mixed")]
        g = paired_gain(pair, baseline=ref)
        if not g.empty:
            parts.append(g.rename(columns={"baseline_mean": "reference_mean"}).assign(reference=ref))
    if not parts:
        return pd.DataFrame(columns=OVER_REAL_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values([*ORDER, "reference"], kind="stable")


def _short_of(cand, over_real: pd.DataFrame) -> list:
    """The rows of `over_real` (gains over the real-image arms) where generator arm `cand` is not shown better:
    its gain over that arm is not real after Holm correction, or not positive."""
    mine = over_real[(over_real["classifier"] == cand.classifier) & (over_real["regime"] == cand.regime)
                     & (over_real["size"] == cand.size) & (over_real["model"] == cand.model)
                     & (over_real["train_set"] == cand.train_set)]
    return [r for r in mine.itertuples() if not (r.real and r.gain > 0)]


def verdicts(gains_df: pd.DataFrame, over_real: pd.DataFrame | None = None) -> list[dict]:
    """Per classifier x regime x size (mixed and real arms): the best arm whose Holm-adjusted gain is real,
    or why there is none; and the arms that really hurt. A generator arm must also beat each real-image arm of
    its cell (`over_real`, gains_over_real_arms) with a real gain; one that does not is listed in `short_of`
    with the comparisons it fails, and the next arm is considered. `tested` is False where no arm could be
    tested (one seed, or no spread across seeds): such a cell makes no claim either way."""
    out = []
    if gains_df.empty:
        return out
    over_real = over_real if over_real is not None else pd.DataFrame(columns=OVER_REAL_COLUMNS)
    mixed = gains_df[gains_df["train_set"] != "synthetic"]
    for (clf, regime, _, size), g in mixed.groupby(["classifier", "regime", "size_value", "size"], sort=True):
        real = g[g["real"] & (g["gain"] > 0)].sort_values("gain", ascending=False)
        best = next(g.sort_values("gain", ascending=False).itertuples())  # a row, as _short_of reads one
        row = {"classifier": clf, "regime": regime, "size": size, "baseline_mean": best.baseline_mean,
               "hurt": g[g["real"] & (g["gain"] < 0)]["model"].tolist(), "best": best, "short_of": []}
        for cand in real.itertuples():
            failed = _short_of(cand, over_real) if cand.train_set == "mixed" else []
            if not failed:
                row.update(use=cand.model, chosen=real.loc[cand.Index], why="real", tested=True)
                break
            row["short_of"].append((cand.model, failed))
        if "use" not in row:
            row.update(use=None, chosen=best, **_why_none(g, best, row["short_of"]),
                       more_seeds=_more_seeds(best, over_real))
        out.append(row)
    return out


def _more_seeds(best, over_real: pd.DataFrame) -> float | None:
    """Seeds at which the cell's best arm would likely become its answer, if its gains and spreads held: the most
    that any comparison it still has to win needs (over the baseline, and a generator's over each real-image arm;
    stats.seeds_needed). None where more seeds would not make it the answer: a gain it needs is not positive or
    supports no projection (no test, or fewer than MIN_SEEDS seeds)."""
    needed = [best] if not (best.real and best.gain > 0) else []
    if best.train_set == "mixed":
        needed += _short_of(best, over_real)
    if any(not r.gain > 0 or pd.isna(r.seeds_needed) for r in needed):
        return None
    return max((r.seeds_needed for r in needed), default=None)


def more_seeds_text(v: dict) -> str:
    """What a cell without an answer would need in seeds (verdicts' `more_seeds`), for the report and `show`."""
    n, seeds = v.get("more_seeds"), int(v["chosen"].n_pairs)
    if n is None:
        return (f"; {seeds} seeds are too few to project how many would settle it: run {MIN_SEEDS} or more"
                if v.get("tested") and 2 <= seeds < MIN_SEEDS and v["chosen"].gain > 0 else "")
    if n == float("inf"):
        return f"; too small for its spread to become real within {MOST_SEEDS} seeds"
    return (f"; projected from its {seeds} seeds' gains and spreads, about {int(n)} seeds would "
            f"give each comparison it must win {POWER:.0%} power")


def _why_none(g: pd.DataFrame, best, short_of: list) -> dict:
    """Why a cell has no arm to use: a baseline already perfect, generators that beat only the baseline, too few
    seeds, or no real gain."""
    if best.baseline_mean >= 1.0:  # a mean accuracy of 1 is 1 on every seed: there is nothing to gain
        return {"why": "the baseline is already right on every test image, on every seed: nothing to gain (try a "
                       "smaller size or a harder regime)", "tested": True}
    if short_of:
        return {"why": "no generator beats every real-image arm after Holm correction (some beat the baseline)",
                "tested": True}
    if (g["claim"] != "tested").all():
        return {"why": "one seed" if best.n_pairs < 2 else "no spread across seeds", "tested": False}
    return {"why": "no arm beats the baseline after Holm correction", "tested": True}


def write_gains(summary_csv, out, out_real) -> pd.DataFrame:
    """gains.csv and gains_over_real_arms.csv (`out_real`) from summary.csv (the workflow's `gains` rule)."""
    df, _, _ = load_runs(summary_csv)
    table = gains(df)
    table = table.reindex(columns=GAIN_COLUMNS) if not table.empty else pd.DataFrame(columns=GAIN_COLUMNS)
    write_csv(out, table)
    write_csv(out_real, gains_over_real_arms(df).reindex(columns=OVER_REAL_COLUMNS))
    return table


def _fmt(v, spec="+.4f") -> str:
    return "–" if v is None or pd.isna(v) else format(v, spec)


def _read_filtered(path: Path, cell=None, model=None, classifier=None) -> pd.DataFrame:
    """A gains table as written, narrowed to a cell (regime or regime/size), a model and a classifier."""
    g = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if cell:
        regime, _, size = cell.partition("/")
        g = g[(g["regime"] == regime) & ((g["size"] == size) if size else True)]
    if model:
        g = g[g["model"] == model]
    if classifier:
        g = g[g["classifier"] == classifier]
    g = g if "seeds_needed" in g else g.assign(seeds_needed=float("nan"))  # a table from before the column
    return g.assign(real=g["real"].astype(str).str.lower().isin(["true", "1"]))


# Why a gain has no interval or test, by its `claim`: one seed, or every seed's difference equal.
UNTESTED = {"one seed": "n/a (1 seed)", "no spread": "no spread across seeds: no claim"}


def _comparison_table(g: pd.DataFrame, reference: str = "baseline_mean") -> pd.DataFrame:
    """The printed rows of a gains table (`reference`: the column holding the compared arm's mean)."""
    return pd.DataFrame({
        "classifier": g["classifier"], "cell": g["regime"] + "/" + g["size"].astype(str),
        **({"over": g["reference"]} if "reference" in g else {}),
        "arm": [arm_label(m, t) for m, t in zip(g["model"], g["train_set"])],
        "reference" if "reference" in g else "baseline": g[reference].map(lambda v: _fmt(v, ".4f")),
        "model": g["model_mean"].map(lambda v: _fmt(v, ".4f")), "gain": g["gain"].map(_fmt),
        "simultaneous 95% CI": [UNTESTED.get(claim) or "[{}, {}]".format(*map(_fmt, shown_gain_interval(lo, hi)))
                                for lo, hi, claim in zip(g["ci_corr_low"], g["ci_corr_high"],
                                                         g["claim"] if "claim" in g else [None] * len(g))],
        "Holm p": g["p_holm"].map(lambda v: _fmt(v, ".3g")), "real": g["real"].map({True: "yes", False: ""}),
        "seeds won": [f"{int(w)}/{int(n)}" for w, n in zip(g["wins"], g["n_pairs"])],
        f"seeds for {POWER:.0%}": g["seeds_needed"].map(fmt_seeds),
    })


def fmt_seeds(n) -> str:
    """A `seeds_needed` value as printed: a count, `>100` past MOST_SEEDS, `–` where no test is possible."""
    return "–" if pd.isna(n) else f">{MOST_SEEDS}" if n == float("inf") else str(int(n))


def show(results="results", dataset=None, *, cell=None, model=None, classifier=None, out=None) -> int:
    """Print the answer and the gains of a finished (or partly finished) grid in the terminal."""
    out = out if out is not None else sys.stdout  # looked up now: a test's captured stdout, a redirected one
    root = Path(results)
    found = sorted(root.glob("*/gains.csv")) if dataset is None else [root / dataset / "gains.csv"]
    found = [p for p in found if p.exists()]
    if not found:
        raise GenaugError(f"no gains.csv under {root}/<dataset>/: run `snakemake` (or `snakemake "
                          f"{root}/<dataset>/gains.csv` for a partial grid) first")
    unmatched = []
    for path in found:
        g = _read_filtered(path, cell, model, classifier)
        over_path = path.with_name("gains_over_real_arms.csv")  # absent in results from before it was written
        over = _read_filtered(over_path, cell, model, classifier) if over_path.exists() else None
        print(f"{path}  ({len(g)} comparisons, paired on seeds; Holm across a cell's arms)", file=out)
        if g.empty:
            unmatched.append(_what_there_is(path))
            print(f"  nothing matches the filters; {unmatched[-1]}", file=out)
            continue
        print("\nAnswer (per cell: the best arm whose corrected gain is real; a generator's over every real-image "
              "arm too):", file=out)
        for v in verdicts(g, over):
            c = v["chosen"]
            what = (f"use {v['use']}: {c.gain:+.4f} [{_fmt(c.ci_corr_low)}, {_fmt(c.ci_corr_high)}], Holm p "
                    f"{c.p_holm:.3g}, {int(c.wins)}/{int(c.n_pairs)} seeds" if v["use"] else
                    f"{v['why']} (highest mean: {c.model} {c.gain:+.4f}{more_seeds_text(v)})")
            hurt = f"; avoid {', '.join(v['hurt'])}" if v["hurt"] else ""
            short = "".join(f"; {m} beats the baseline, not " + ", ".join(
                f"{r.reference} ({r.gain:+.4f} [{_fmt(r.ci_corr_low)}, {_fmt(r.ci_corr_high)}])" for r in failed)
                for m, failed in v["short_of"])
            print(f"  {v['classifier']} {v['regime']} {v['size']} (baseline {v['baseline_mean']:.4f}): {what}"
                  f"{hurt}{short}", file=out)
        print("\nEvery comparison:", file=out)
        print(_comparison_table(g).to_string(index=False), file=out)
        if over is not None and not over.empty:
            print("\nGenerator arms over the other real-image arms (Holm across a cell's generator arms):", file=out)
            print(_comparison_table(over, "reference_mean").to_string(index=False), file=out)
    if len(unmatched) == len(found):
        given = " ".join(f"--{k} {v}" for k, v in (("cell", cell), ("model", model), ("classifier", classifier)) if v)
        raise GenaugError(f"nothing matches {given}; " + "; ".join(unmatched))
    return 0


def _what_there_is(path: Path) -> str:
    """The values `show`'s filters can take in one gains table, for a filter that matched nothing."""
    g = _read_filtered(path)
    cells = sorted(set(g["regime"] + "/" + g["size"].astype(str)))
    return (f"{path.parent.name} has cells {', '.join(cells) or 'none'}, models {', '.join(sorted(set(g['model'])))}"
            f", classifiers {', '.join(sorted(set(g['classifier'])))}")
