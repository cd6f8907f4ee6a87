"""The HTML report: one self-contained file (figures inlined as base64 PNG) that opens offline.

Every number in it is read from the files this run wrote: summary.csv, gen_metrics.csv, probes.csv,
the t-SNE coordinates and the sample grids. Sections that have no data say so instead of vanishing.
"""

from __future__ import annotations

import json
import platform
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..config import ARMS
from ..io import write_text
from ..answer import (arm_label, fmt_seeds, gains as paired_gains, gains_over_real_arms, label_filtered,
                      UNTESTED, load_runs, more_seeds_text, verdicts)
from ..stats import ALPHA, POWER, summarize
from ..yardsticks import ALTERS_PIXELS, describe
from . import fewshot, figures
from .markup import NO_INTERVAL, acc_interval, diff_interval, esc, fig_img, figure, fmt_num, html_table

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin-top:1.4em}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{border:1px solid #ddd;padding:.3em .6em;
text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.pos{color:#0a7d27;font-weight:600}.neg{color:#b3261e;font-weight:600}
.muted{color:#777}.note{background:#fff8e1;border-left:4px solid #f2b600;padding:.6em 1em}img{max-width:100%}
.grids{display:flex;flex-wrap:wrap;gap:1em}.grids figure{margin:0}figcaption{font-size:.8em;color:#555}
nav a{margin-right:1em}
"""

# 000's Table 2 (CNN accuracy, one run per cell, a baseline trained far too briefly): (baseline, best, model).
PUBLISHED_000 = {
    ("balanced", 1000): (0.406, 0.709, "GAN"), ("balanced", 2000): (0.648, 0.775, "VQVAE"),
    ("balanced", 3000): (0.654, 0.786, "VQVAE"), ("balanced", 4000): (0.756, 0.809, "GAN"),
    ("balanced", 5000): (0.757, 0.807, "GAN"),
    ("semi_balanced", 1000): (0.546, 0.721, "DVAE_brightness"), ("semi_balanced", 2000): (0.661, 0.675, "GAN"),
    ("semi_balanced", 3000): (0.488, 0.747, "GAN"), ("semi_balanced", 4000): (0.413, 0.810, "VQVAE"),
    ("semi_balanced", 5000): (0.715, 0.792, "VQVAE"),
    ("imbalanced", 1000): (0.224, 0.722, "DVAE_blur"), ("imbalanced", 2000): (0.550, 0.772, "VQVAE"),
    ("imbalanced", 3000): (0.443, 0.779, "GAN"), ("imbalanced", 4000): (0.801, 0.817, "VQVAE"),
    ("imbalanced", 5000): (0.667, 0.759, "GAN"),
}
GEN_COLUMNS = {"domain_fd": "domain FD (lower better)", "intra_class_fd": "intra-class FD (lower better)",
               "kid": "KID (lower better)", "precision": "precision", "recall": "recall", "coverage": "coverage",
               "domain_is": "domain IS", "label_agreement": "label agreement",
               "inception_fid": "Inception FID (lower better)",
               "near_copies": "near-copies of training images (new real images: about 0.05)"}


def _why_untested(r) -> str:
    """Why a gain has no interval or test: one seed, or every seed's difference equal."""
    return UNTESTED.get(r.claim, NO_INTERVAL)


def _gain_cell(r) -> str:
    cls = ("pos" if r.gain > 0 else "neg") if r.real else "muted"
    return f"<td class={cls}>{r.gain:+.4f}{' *' if r.real else ''}</td>"


def _gain_table(gains: pd.DataFrame, reference: bool = False) -> str:
    """The paired gains, one row per arm: over the baseline, or (`reference`) over the real-image arm named in
    each row of gains_over_real_arms."""
    head = ["classifier", "regime", "size", *(["over"] if reference else []), "model", "training set",
            "reference acc" if reference else "baseline", "model acc", "gain",
            "95% CI", "p", "Holm p", "simultaneous 95% CI (Bonferroni, m arms)", "seeds won",
            f"seeds for {POWER:.0%} power"]
    rows = []
    for r in gains.itertuples():
        why = _why_untested(r)
        rows.append([esc(r.classifier), esc(r.regime), esc(r.size), *([esc(r.reference)] if reference else []),
                     esc(r.model), esc(r.train_set),
                     fmt_num(r.reference_mean if reference else r.baseline_mean), fmt_num(r.model_mean), "GAIN",
                     diff_interval(r.gain_ci_low, r.gain_ci_high, why),
                     fmt_num(r.p_value, ".3g"), fmt_num(r.p_holm, ".3g"),
                     diff_interval(r.ci_corr_low, r.ci_corr_high, why) + (f" (m {r.holm_m})" if r.holm_m else ""),
                     f"{r.wins}/{r.n_pairs}", fmt_seeds(r.seeds_needed)])
    out = html_table(head, rows, left=6 if reference else 5)
    for r in gains.itertuples():  # the gain cell carries its colour class
        out = out.replace("<td>GAIN</td>", _gain_cell(r), 1)
    return out


def _short_of_text(short_of: list) -> str:
    """Generators that beat the baseline but not every real-image arm, with the comparisons they fail."""
    return "; ".join(f"{esc(model)} beats the baseline, not " + ", ".join(
        f"{esc(r.reference)} ({r.gain:+.4f}, simultaneous CI "
        f"{diff_interval(r.ci_corr_low, r.ci_corr_high, _why_untested(r))})" for r in failed)
        for model, failed in short_of)


def _recommendations(gains: pd.DataFrame, over_real: pd.DataFrame) -> str:
    """Per classifier x regime x size: the best arm whose Holm-adjusted gain is real (a generator's over every
    real-image arm too), or why there is none (answer.verdicts, which `genaug show` prints too)."""
    rows = []
    for v in verdicts(gains, over_real):
        r, best = v["chosen"], v["best"]
        if v["use"]:
            verdict = (f"<b>{esc(r.model)}</b>: {r.gain:+.4f} (simultaneous CI "
                       f"{diff_interval(r.ci_corr_low, r.ci_corr_high)}, Holm p {r.p_holm:.3g}, "
                       f"{r.wins}/{r.n_pairs} seeds)")
        elif not v["tested"]:
            verdict = (f"<span class=muted>no claim: {v['why']} (highest mean: {esc(best.model)} "
                       f"{best.gain:+.4f})</span>")
        else:
            verdict = (f"<span class=muted>{v['why']} (highest mean: "
                       f"{esc(best.model)} {best.gain:+.4f}, simultaneous CI "
                       f"{diff_interval(best.ci_corr_low, best.ci_corr_high, _why_untested(best))})"
                       f"{esc(more_seeds_text(v))}</span>")
        if v["short_of"]:
            verdict += f"<br><span class=muted>{_short_of_text(v['short_of'])}</span>"
        rows.append([esc(v["classifier"]), esc(v["regime"]), esc(v["size"]), esc(f"{v['baseline_mean']:.4f}"),
                     verdict, esc(", ".join(v["hurt"])) or "–"])
    return html_table(["classifier", "regime", "size", "baseline acc",
                       "use (gain: the chosen arm's test-split estimate, optimistic since it is the best of several)",
                       "real losses (avoid)"], rows, left=3)


def _table2_000(acc: pd.DataFrame, gains: pd.DataFrame, dataset: str) -> str:
    """000's Table 2 form: baseline and best model per regime x size, ours (mean of seeds) beside theirs."""
    rows = []
    mixed = acc[acc["train_set"].isin(["real", "mixed"])]
    for (clf, regime, size_value, size), g in mixed.groupby(["classifier", "regime", "size_value", "size"]):
        base = g[g["model"] == "baseline"]
        others = g[g["model"] != "baseline"].sort_values("mean", ascending=False)
        if base.empty or others.empty:
            continue
        best = others.iloc[0]
        gain = gains[(gains["classifier"] == clf) & (gains["regime"] == regime) & (gains["size"] == size)
                     & (gains["model"] == best.model) & (gains["train_set"] == best.train_set)]
        real = bool(len(gain) and gain["real"].iloc[0])
        # 000's numbers are its CNN's on Fashion-MNIST: shown beside ours for that classifier only
        pub = PUBLISHED_000.get((regime, int(size_value))) if dataset == "fashion_mnist" and clf == "cnn" else None
        rows.append([esc(clf), esc(regime), esc(size), f"{base['mean'].iloc[0]:.3f}",
                     f"{best['mean']:.3f} ({esc(best.model)})", f"{best['mean'] - base['mean'].iloc[0]:+.3f}"
                     + (" *" if real else ""),
                     *(["–", "–", "–"] if pub is None else [f"{pub[0]:.3f}", f"{pub[1]:.3f} ({pub[2]})",
                                                          f"{pub[1] - pub[0]:+.3f}"])])
    return html_table(["classifier", "regime", "size", "baseline (ours)", "best (ours)", "Δ (ours)", "baseline (000)",
                   "best (000)", "Δ (000)"], rows, left=3)


def _real_synthetic_mixed(acc: pd.DataFrame, gen: pd.DataFrame | None) -> str:
    """004's Table 2 form: accuracy trained on real / synthetic only (CAS) / mixed, on the real test split."""
    rows = []
    for (clf, regime, _, size), g in acc.groupby(["classifier", "regime", "size_value", "size"]):
        base = g[g["model"] == "baseline"]["mean"]
        for model in [m for m in dict.fromkeys(g["model"]) if m not in ARMS]:
            get = g[g["model"] == model].set_index("train_set")
            cell = [esc(clf), esc(regime), esc(size), esc(model),
                    fmt_num(base.iloc[0] if len(base) else None, ".4f"),
                    *(f"{fmt_num(get.loc[t, 'mean'])} {acc_interval(get.loc[t, 'ci_low'], get.loc[t, 'ci_high'])}"
                      if t in get.index else "–" for t in ("synthetic", "mixed"))]
            if gen is not None:
                m = gen[(gen["model"] == model) & (gen["filter"] == "none") & (gen["regime"] == regime)
                        & (gen["size"] == size)]
                cell += [fmt_num(m["domain_fd"].mean() if len(m) else None, ".2f"),
                         fmt_num(m["domain_is"].mean() if len(m) else None, ".2f")]
            rows.append(cell)
    head = ["classifier", "regime", "size", "model", "Acc (real)", "Acc (synthetic only, CAS) [95% CI]",
            "Acc (mixed) [95% CI]"] + (["domain FD", "domain IS"] if gen is not None else [])
    return html_table(head, rows, left=4)


def _floor_words(gen: pd.DataFrame) -> str:
    """What the floor row is: one real draw, or the mean of several with the spread of one draw's domain FD."""
    draws = int(gen["floor_draws"].dropna().iloc[0]) if "floor_draws" in gen and gen["floor_draws"].notna().any() else 1
    if draws < 2:
        return "a second real draw of that count"
    sd = gen["floor_domain_fd_sd"].dropna().iloc[0]
    return (f"the mean of {draws} real draws of that count (one draw's domain FD varies with sd {sd:.2f}; a "
            "generator's draw can vary as much, so a small difference in one seed's row may be luck)")


def _gen_metrics_section(gen: pd.DataFrame, gains: pd.DataFrame) -> list[str]:
    """The metrics table (with the real-vs-real floor at the same count) and each metric's rank correlation
    with the gain, within each classifier x regime x size and pooled with those cells kept apart. `gen` has its
    rows labelled by filter (`_genmetrics`)."""
    from ..stats import blocked_rank_correlation

    ok = gen[gen["status"] == "ok"]
    g = ok.groupby(["model", "regime", "size"], as_index=False, sort=False).mean(numeric_only=True)
    cols = [c for c in GEN_COLUMNS if c in g and g[c].notna().any()]
    count = int(ok["per_class_count"].iloc[0]) if len(ok) and "per_class_count" in ok else None
    floor = [fmt_num(gen[f"floor_{c}"].dropna().iloc[0] if f"floor_{c}" in gen and gen[f"floor_{c}"].notna().any()
                  else None, ".3f") for c in cols]
    rows = [["<b>real (floor)</b>", "–", "–", *floor]]
    rows += [[esc(r.model), esc(r.regime), esc(r.size), *(fmt_num(getattr(r, c), ".3f") for c in cols)]
             for r in g.itertuples()]
    parts = [f"<p>Every set is scored on <b>{count} images of every class</b>: a fresh draw from the cell's generator "
             "(after its filter, for a filtered row), against a real reference of the same count drawn from the "
             "test split, which no subset, generator or reference network has seen. These metrics depend on the "
             f"count, so only sets of the same count compare. The <b>floor</b> row scores {_floor_words(gen)}: what a "
             "perfect generator would get. Means over seeds. KID is unbiased, so a set as near the reference as "
             "the floor can score below 0; its scale is the features' cubed, so compare it within a table.</p>",
             html_table(["model", "regime", "size", *(GEN_COLUMNS[c] for c in cols)], rows, left=3),
             *_blind_metrics_warning(ok, count), *_precision_caution(cols)]
    short = gen[gen["status"] != "ok"]
    if len(short):
        parts.append("<p class=muted>Without metrics: " + esc("; ".join(
            f"{r.model} {r.regime} {r.size} s{r.seed}: {r.reason}" for r in short.itertuples())) + "</p>")
    if gains.empty:
        return parts
    means = ok.groupby(["model", "regime", "size"], as_index=False).mean(numeric_only=True)
    joined = gains[gains["train_set"] == "mixed"].merge(means, on=["model", "regime", "size"], how="inner")
    blocks = ["classifier", "regime", "size"]
    tests = {c: blocked_rank_correlation(joined, c, "gain", blocks) for c in cols}
    rows = []
    for c, t in tests.items():
        within = [f"{b['classifier']} {b['regime']} {b['size']}: {b['rho']:+.2f} (n {b['n']})"
                  for b in t["per_block"] if not np.isnan(b["rho"])]
        rows.append([esc(GEN_COLUMNS[c]), "–" if np.isnan(t["rho"]) else f"{t['rho']:+.2f}",
                     "–" if np.isnan(t["p"]) else f"{t['p']:.3g}", f"{t['n']} arms in {t['blocks']} cells",
                     esc("; ".join(within)) or "<span class=muted>under 3 arms per cell</span>"])
    parts += ["<p>Does a better metric mean a bigger gain (001's claim)? Each point is one arm (model, filter) of "
              "one classifier x regime x size, means over seeds. Arms are compared only within their cell (same "
              "baseline, same amount and balance of real data): Spearman's rho within each cell, and pooled over "
              "cells on ranks centred within each cell, with a p-value that permutes the gains within cells. A "
              "negative rho for the distances, a positive one for precision / recall / coverage / IS would support "
              "the claim.</p>",
              html_table(["metric", "pooled rho (within cells)", "permutation p", "points", "rho within each cell"],
                     rows, left=1),
              ]
    headers = {c: "pooled within cells: " + ("too few points" if np.isnan(t["rho"]) else
                                             f"rho {t['rho']:+.2f} (p {t['p']:.2g})") for c, t in tests.items()}
    for i in range(0, len(cols), 5):
        parts.append(fig_img(figures.scatter_panels(joined, cols[i:i + 5], "gain", "model", GEN_COLUMNS, headers),
                          "metrics vs gain"))
    return parts


BLIND_RATIO = 2.0  # the FD yardsticks' strongest alteration under this many times the floor: metrics blind


def _yardstick_ratios(ok: pd.DataFrame) -> dict[str, float]:
    """Each FD yardstick's domain FD over the floor ({yardstick id: ratio}), from gen_metrics.csv's
    floor_yardsticks:<id> columns: one reference per run, so every row that has them holds the same values."""
    cols = [c for c in ok.columns if c.startswith("floor_yardsticks:") and ok[c].notna().any()]
    return {c.split(":", 1)[1]: float(ok[c].dropna().iloc[0]) for c in cols}


def _blind_metrics_warning(ok: pd.DataFrame, count: int | None) -> list[str]:
    """A warning where the FD yardsticks show the metrics blind: real images with altered pixels (a one-pixel
    blur is about 100x the floor at 100 Fashion-MNIST images a class) scoring near the floor mean the count or the
    reference network's features cannot tell quality apart, and the table and its correlations rank sets by
    chance. Seen on a folder of 4 classes, 7 images a class: every alteration 0.84-1.12x the floor (repeated
    images, which change no pixel, 1.8-2.4x)."""
    altering = [(r, k) for k, r in _yardstick_ratios(ok).items() if k in ALTERS_PIXELS]
    if not altering:
        return []
    ratio, strongest = max(altering)
    if ratio >= BLIND_RATIO:
        return []
    acc = ok["reference_test_accuracy"].dropna() if "reference_test_accuracy" in ok else ok.iloc[:0]
    net = (f" (test accuracy {acc.iloc[0]:.3f}; it trains gen_metrics.reference_epochs passes over the train pool, "
           "more on a small pool, whatever the effort: raise them where it scores low)") if len(acc) else ""
    return [f"<p class=note><b>These metrics cannot see image quality in this run</b>: of the FD yardsticks below "
            f"(real images with pixels altered in known ways), the farthest from the floor, "
            f"{esc(describe(strongest))}, scores {ratio:.2f}x it, where at 100 Fashion-MNIST images a class a "
            "one-pixel blur scores about 100x. The table above and the correlations below may rank the sets by "
            f"chance. Three things set the metrics' power: the count ({count} images a class; more test images, or "
            f"gen_metrics.per_class), the reference network whose features they use{net}, and the images "
            "themselves (on smooth, upsampled 8x8 digits, blur and noise hardly move the features at any count the "
            "test split holds; only a 2-pixel shift does).</p>"]


def _precision_caution(cols: list[str]) -> list[str]:
    """Precision beside coverage and recall: worthless sets score it as high as real images
    (scripts/prdc_fakes.py; docs/measured/2026-12-08-prdc-fakes.md)."""
    if "precision" not in cols:
        return []
    return ["<p class=note><b>Precision alone can rate a worthless set as real.</b> It counts a set's images that "
            "fall inside some real image's k-nearest-neighbour ball, and the few outlying real images have wide "
            "balls. Measured on genaug's own references: on Fashion-MNIST (500 images a class) blank images scored "
            "precision 1.00, one real image a class repeated 0.90 and pixel noise 0.74, where real images score "
            "0.97; on a 4-class folder of shapes, noise and blank images both 1.00. Coverage and recall, which "
            "ask how much of the real images a set reaches, gave those sets 0.00-0.02 on Fashion-MNIST. Read "
            "precision only beside them.</p>"]


def _yardstick_section(gen: pd.DataFrame) -> list[str]:
    """A generator's domain FD over the floor, ranked among real images altered in known ways (yardsticks.py),
    so "15x the floor" reads as "between real images with 5 % pixel noise and real images blurred by half a
    pixel". `gen` has its rows labelled by filter (`_genmetrics`)."""
    ok = gen[gen["status"] == "ok"]
    yardsticks = _yardstick_ratios(ok)
    if ok.empty or "floor_domain_fd" not in ok:
        return []
    if not yardsticks:
        return ["<p class=muted>No FD yardsticks in this run's gen_metrics.csv (its reference predates them): "
                "<code>snakemake --forcerun reference</code> remakes the reference and the metrics (not the "
                "generators or classifiers) and ranks each generator's FD among real images altered in known "
                "ways.</p>"]
    g = ok.assign(ratio=ok["domain_fd"] / ok["floor_domain_fd"]).groupby(["model", "regime", "size"], sort=False)
    ladder = [(float(r), f"<b>{esc(' '.join(map(str, k)))}</b>") for k, r in g["ratio"].mean().items()]
    ladder += [(1.0, "<span class=muted>real images (the floor)</span>")]
    ladder += [(r, f"<span class=muted>{esc(describe(k))}</span>") for k, r in yardsticks.items()]
    rows = [[name, f"{ratio:.2f}"] for ratio, name in sorted(ladder, key=lambda t: t[0])]
    return ["<p>How far is a domain FD of k times the floor? The floor's own real draws, each altered in one "
            "small, named way, scored against the same reference at the same count (grey rows), ranked with each "
            "generator's domain FD over the floor (bold, mean of seeds). The reference network's features see "
            "pixel-level changes that leave every image's class plain, so even a small shift or blur of real "
            "images lies far above the floor: read a generator's ratio against these rows, not against 1.</p>",
            html_table(["set", "domain FD / real floor"], rows, left=1)]


def _class_fd_section(gen: pd.DataFrame, classes: list[str] | None) -> list[str]:
    """Where each generator falls short: every class's domain FD over the real floor's FD for that class (both
    at the same count), mean of seeds. The overall FD is one number; this says which classes make it. `gen` has
    its rows labelled by filter (`_genmetrics`)."""
    ok = gen[gen["status"] == "ok"]
    if ok.empty:
        return []
    keys = sorted({c.split(":")[1] for c in ok.columns if c.startswith("per_class:") and c.endswith(":fd")}, key=int)
    fds, floors = [f"per_class:{k}:fd" for k in keys], [f"floor_per_class_fd:{k}" for k in keys]
    if not keys or not all(f in ok and ok[f].notna().any() for f in floors):
        return ["<p class=muted>No per-class floor in this run's gen_metrics.csv (its reference predates it): "
                "<code>snakemake --forcerun reference</code> remakes the reference and the metrics (not the "
                "generators or classifiers) and shows which classes each generator misses.</p>"]
    g = ok.groupby(["model", "regime", "size"], sort=False)[fds + floors].mean()
    table = pd.DataFrame(g[fds].to_numpy() / g[floors].to_numpy(),
                         index=[" ".join(map(str, i)) for i in g.index],
                         columns=[classes[int(k)] if classes and int(k) < len(classes) else f"class {k}"
                                  for k in keys])
    return ["<p>Which classes a generator draws worst: each class's domain FD (its synthetic images against "
            "the real reference images of that class) over the real floor's for that class, at the same count; "
            "1 is as good as a real draw. The overall domain FD above pools every class.</p>",
            fig_img(figures.class_heatmap(table, "per-class domain FD / real floor (mean of seeds)",
                                          cmap="rocket_r", ratio=True), "per-class domain FD")]


def _convergence(df: pd.DataFrame, meta: dict) -> list[str]:
    """What a shorter stopping rule (the same runs, stopped earlier) would have scored, per arm: the check
    that every arm had converged, so that no gain comes from one arm stopping early."""
    from ..stats import CONVERGED, convergence_table

    table = convergence_table(df)
    if table.empty:
        return []
    rows = [[esc(r.classifier), esc(r.regime), esc(r.size), esc(arm_label(r.model, r.train_set)),
             f"{r.check_patience_steps} / {r.check_max_steps}", f"{r.accuracy_check:.4f}", f"{r.accuracy_run:.4f}",
             f"<span{' class=neg' if abs(r.change) > CONVERGED else ''}>{r.change:+.4f}</span>", f"{r.seeds}"]
            for r in table.itertuples()]
    worst = float(table["change"].abs().max())
    verdict = (f"every arm's mean moved by at most {worst:.4f}: converged by the {CONVERGED} criterion" if
               worst <= CONVERGED else f"<b>some arm's mean moved by {worst:.4f}, more than {CONVERGED}</b> (red): "
               "those arms had not converged under the shorter rule; read their gains with that in mind")
    return ["<h2 id=convergence>Convergence of the training rule</h2>",
            f"<p>Each run also records where a shorter stopping rule (the patience and cap shown, in steps) would "
            f"have stopped the same training, and that rule's test accuracy. The difference is what the run's "
            f"longer patience changed (effort {esc(meta.get('effort', '?'))}): {verdict}.</p>",
            html_table(["classifier", "regime", "size", "arm", "shorter rule: patience / cap (steps)",
                    "accuracy (shorter)", "accuracy (run)", "change", "seeds"], rows, left=4)]


def _seed_warning(df: pd.DataFrame) -> list[str]:
    """A warning when cells have fewer than MIN_SEEDS seeds: their intervals are very wide or missing."""
    from ..stats import MIN_SEEDS

    seeds = df.groupby(["classifier", "regime", "size", "model", "train_set", "filter"])["seed"].nunique()
    if seeds.empty or seeds.min() >= MIN_SEEDS:
        return []
    return [f"<p class=note><b>Fewer than {MIN_SEEDS} seeds</b> in {int((seeds < MIN_SEEDS).sum())} of {len(seeds)} "
            f"cells (as few as {int(seeds.min())}). A t-interval from 2 seeds is about 6 times its standard error "
            "wide, and one seed gives none: treat every difference here as a pilot, and add seeds before you "
            "act on one.</p>"]


def _classic_note(df: pd.DataFrame) -> list[str]:
    """Exactly what the classic arm did to its images (as its runs recorded it), and what the oversampled arm is."""
    out = []
    if (df["model"] == "oversampled").any():
        out.append("<p>The <b>oversampled</b> arm trains on the real images alone, drawn in class-balanced passes: "
                   "each class as often as the largest, a small class's images repeated. It is the plain fix for "
                   "imbalance that a generator topping up small classes must beat.</p>")
    used = sorted(set(df.loc[df["model"] == "classic", "augmentation"].dropna().astype(str)) - {""}) \
        if "augmentation" in df else []
    if used:
        out.append(f"<p>The <b>classic</b> arm's augmentation: {esc('; '.join(used))}. Flips are used only where a "
                   "mirrored image keeps its class (Fashion-MNIST; a folder dataset only with folder.mirror_safe).</p>")
    return out


def _diverged_note(diverged: pd.DataFrame) -> list[str]:
    """A visible list of the cells whose generator diverged: they have no score and are left out."""
    if diverged.empty:
        return []
    rows = [[esc(r.model), esc(r.regime), esc(r.size), esc(r.seed), esc(r.reason)] for r in diverged.itertuples()]
    return [
        "<h2 id=diverged>Diverged generators</h2>",
        f"<p class=note>{len(diverged)} classifier run(s) were not trained because their generator diverged "
        "(a non-finite loss, or samples that collapsed to near-identical images). They have no score and are left "
        "out of every table and figure below, so a model's mean there is over its remaining seeds only, "
        "which flatters it: count its seeds before trusting its rank.</p>",
        html_table(["model", "regime", "size", "seed", "reason"], rows, left=3),
    ]


def _class_tables(df: pd.DataFrame) -> list[str]:
    """Per-class precision and recall heatmaps, row = model (training set), per classifier x regime at its largest
    size."""
    parts = []
    for score in ("precision", "recall"):
        cols = [c for c in df.columns if c.startswith(f"{score}:")]
        if not cols:
            continue
        largest = df.groupby("regime")["size_value"].transform("max")
        sub = df[df["size_value"] == largest]
        for (clf, regime), g in sub.groupby(["classifier", "regime"], sort=False):
            g = g.assign(arm=[arm_label(m, t) for m, t in zip(g["model"], g["train_set"])])
            table = g.groupby("arm", sort=False)[cols].mean()
            table.columns = [c.split(":", 1)[1] for c in cols]
            parts.append(fig_img(figures.class_heatmap(
                table, f"per-class test {score}: {clf}, {regime} {g['size'].iloc[0]} (mean of seeds)"),
                f"{score} {clf} {regime}"))
    return parts


def _tsne_section(tsne_files: list) -> list[str]:
    """Per classifier x training set x regime x size: the cells' t-SNE panels side by side (first seed)."""
    groups: dict = {}
    for path in map(Path, tsne_files):
        with np.load(path) as z:
            panel = (z["coords"], z["labels"], z["synthetic"], [str(c) for c in z["classes"]], str(z["title"]))
        clf, train, model, flt, regime, size, seed = path.parent.parts[-7:]
        groups.setdefault((clf, "real+mixed" if train != "synthetic" else train, flt, regime, size), []).append(
            (model != "baseline", model, panel))
    parts = []
    for key, panels in sorted(groups.items()):
        panels = [p for _, _, p in sorted(panels, key=lambda t: (t[0], t[1]))]
        parts += [f"<h3>{esc(' / '.join(key))}</h3>", fig_img(figures.tsne_grid(panels), "t-SNE " + " ".join(key))]
    return parts


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def _machines(df: pd.DataFrame) -> list[str]:
    """Which machines computed the classifier runs, and a warning when there were several: the same seed
    need not give the same number on two machines, so a pair of arms on one seed then spans them."""
    ran = df[df["status"] == "ok"] if "status" in df else df  # a diverged cell trained nothing
    names = ran["machine"].fillna("").astype(str) if "machine" in ran else pd.Series("", index=ran.index)
    counts = names.replace("", "not recorded").value_counts()
    line = "machines: " + ", ".join(f"{esc(m)} ({n} run{'s' if n != 1 else ''})" for m, n in counts.items())
    if len(counts) < 2:
        return [line]
    return [line + ". <b>The runs come from more than one machine</b>: the same seed can score differently on "
            "another machine (early stopping may pick another epoch; docs/methods.md). The "
            "intervals over seeds still hold; an exact rerun of a cell needs the same kind of machine"]


def _dataset_notes(path) -> list[str]:
    """The choices `prepare` made reading the dataset (16-bit scaling, nested folders, grey or colour)."""
    if not path:
        return []
    with np.load(path) as z:
        return [str(n) for n in z["notes"]] if "notes" in z.files else []


def _test_balance(path, test_per_class) -> list[str]:
    """A note where the scored test split is imbalanced (a user's long-tailed folder): accuracy then weighs each
    class by its test images, so a generator that helps the small classes gains little; the remedies."""
    if not path or test_per_class:
        return []
    with np.load(path) as z:
        counts, classes = np.bincount(z["test_y"], minlength=len(z["classes"])), [str(c) for c in z["classes"]]
    if counts.min() * 1.5 > counts.max():
        return []
    big, small = int(counts.argmax()), int(counts.argmin())
    return [f"<p class=note><b>The test split is imbalanced</b> ({counts[big]} images of {esc(classes[big])}, "
            f"{counts[small]} of {esc(classes[small])}): accuracy weighs each class by its test images, so a gain on "
            f"the small classes counts little in it. Each run's macro-F1 (every class alike) is in summary.csv; "
            f"<code>test.per_class: {counts[small]}</code> scores every arm on a class-balanced part of the test "
            f"split instead.</p>"]


def _class_names(path) -> list[str] | None:
    """The dataset's class names, in label order, when the report was given its cache (that key alone is read)."""
    if not path:
        return None
    with np.load(path) as z:
        return [str(c) for c in z["classes"]]


# A generator whose sets hold this many times the real floor draw's share of near-copies (and at least
# NEAR_COPIES_MIN) is named in the run summary: part of what its images add is its training subset itself.
NEAR_COPIES_FLAG, NEAR_COPIES_MIN = 3.0, 0.15


def _near_copy_warnings(gen: pd.DataFrame) -> list[str]:
    """One line naming the generators whose sets are largely near-copies of their cells' training images."""
    if "near_copies" not in gen or gen["near_copies"].isna().all():
        return []
    real = float(gen["floor_near_copies"].mean()) if "floor_near_copies" in gen else float("nan")
    known = pd.notna(real)
    limit = max(NEAR_COPIES_FLAG * real, NEAR_COPIES_MIN) if known else NEAR_COPIES_MIN
    share = gen.groupby("model")["near_copies"].mean().dropna().sort_values(ascending=False)
    high = share[share > limit]
    if not len(high):
        return []
    named = ", ".join(f"{esc(m)} {v:.2f}" for m, v in high.items())
    real_words = f"{real:.2f}" if known else "about 0.05"
    return [f"<b>near-copies</b>: many of the images of {named} (their share) are nearer, in pixels, to one of the "
            f"cell's training images than 95 % of new real images are (share of new real images: {real_words}): part "
            f"of what their images add is the training subset itself, blurred or repeated"]


def _run_summary(df: pd.DataFrame, meta: dict, gen: pd.DataFrame | None, notes: list[str] = ()) -> list[str]:
    items = [
        f"genaug {__version__}, Python {platform.python_version()}, torch {esc(_version('torch'))}, "
        f"scikit-learn {esc(_version('scikit-learn'))}, pandas {pd.__version__}",
        f"effort <b>{esc(meta.get('effort', '?'))}</b>, seeds {sorted(df['seed'].unique().tolist())}",
        f"{len(df)} classifier runs; classifier wall time {df['wall_time_s'].sum() / 3600:.2f} h in total "
        f"(median {df['wall_time_s'].median():.0f} s per run)"
        if "wall_time_s" in df and df["wall_time_s"].notna().any() else f"{len(df)} classifier runs",
        *_machines(df),
        *(f"dataset read: {esc(n)}" for n in notes),
    ]
    if gen is not None and len(gen):
        ref = gen["reference_test_accuracy"].dropna()
        if len(ref):
            items.append(f"reference classifier (the generative metrics' feature extractor): test accuracy "
                         f"{ref.iloc[0]:.4f}")
        if "inception_fid_unavailable" in gen and gen["inception_fid_unavailable"].notna().any():
            items.append("<b>Inception FID unavailable</b>: " + esc(gen["inception_fid_unavailable"].dropna().iloc[0]))
        items += _near_copy_warnings(gen)
        bad = gen[gen["status"] != "ok"] if "status" in gen else gen.iloc[:0]
        if len(bad):
            flt = bad["filter"].fillna("none").astype(str) if "filter" in bad else pd.Series("none", bad.index)
            sets = [f"{r.model}{'' if f == 'none' else f' | {f}'} {r.regime} {r.size} s{r.seed} ({r.status})"
                    for r, f in zip(bad.itertuples(), flt)]
            items.append(f"{len(bad)} synthetic set(s) without generative metrics (diverged, or short of a class's "
                         "images at the fixed count; the reasons are under the metrics table): " + esc(", ".join(sets)))
    return ["<h2 id=run>Run summary</h2><ul>", *(f"<li>{i}</li>" for i in items), "</ul>"]


def _learning_curves(loss_logs: list, curve_metrics: list) -> list[str]:
    """Generator losses and classifier validation accuracy against steps, for the cells the report shows
    samples of (each regime's largest size, first seed): a reader sees that training ran its course."""
    parts = ["<h2 id=curves>Learning curves</h2>",
             "<p>Each regime's largest size, first seed. Generators: every loss the family logs, averaged over "
             "the log interval (and over a per-class model's classes). Classifiers: the validation accuracy of "
             "the weights' moving average at each validation, which the stopping rule reads.</p>"]
    frames = []
    for path in map(Path, loss_logs):
        log = _read_optional(path)
        losses = [c for c in log.columns if c.endswith("loss")] if log is not None else []
        if not losses or log.empty:
            continue
        long = log.groupby("step", as_index=False)[losses].mean().melt("step", losses, "loss", "value")
        long["panel"] = path.parts[-5] + ": " + long["loss"]
        long["cell"] = f"{path.parts[-4]}/{path.parts[-3]}"
        frames.append(long)
    if frames:
        parts.append(fig_img(figures.learning_curves(pd.concat(frames), "value", "panel", "cell", "loss"),
                          "generator learning curves"))
    rows = []
    for path in curve_metrics:
        m = json.loads(Path(path).read_text())
        label = arm_label(m["model"], m.get("train_set", "mixed"))
        label += f" ({m['filter']})" if m.get("filter", "none") != "none" else ""
        rows += [{"step": h["step"], "val_accuracy": h["val_accuracy"], "arm": label,
                  "panel": f"{m['classifier']} {m['regime']}/{m['size']}"} for h in m.get("history") or []]
    if rows:
        parts.append(fig_img(figures.learning_curves(pd.DataFrame(rows), "val_accuracy", "panel", "arm",
                                                  "validation accuracy"), "classifier learning curves"))
    return parts if len(parts) > 2 else []


def _samples_section(sample_pngs: list, subsets: list, dataset) -> list[str]:
    """Per regime: the cell's real images beside each generator's synthetic ones, drawn the same way."""
    real = {}
    if dataset and subsets:
        from ..data import load_dataset
        from ..subsets import Subset

        ds = load_dataset(dataset)
        for path in map(Path, subsets):
            sub = Subset.load(path)
            with tempfile.TemporaryDirectory() as tmp:
                png = Path(tmp) / "real.png"
                idx = sub.indices
                figures.sample_grid(ds.train_x[idx].numpy(), ds.train_y[idx].numpy(), ds.classes, png,
                                    title=f"real {sub.regime} {sub.size} s{path.stem[1:]}")
                real[path.parts[-3]] = (f"real images: {path.parts[-3]} / {path.parts[-2]} / {path.stem}",
                                        png.read_bytes())
    by_regime = {}
    for png in sorted(map(Path, sample_pngs)):
        by_regime.setdefault(png.parts[-3], []).append(png)
    parts = ["<h2 id=samples>Synthetic samples</h2>",
             "<p>Per regime (largest size, first seed): the cell's real training images first, then each "
             "generator's synthetic set, one row per class (past 40 classes the rows wrap into blocks side by "
             "side).</p>"]
    for regime in dict.fromkeys([*real, *by_regime]):
        parts.append(f"<h3>{esc(regime)}</h3><div class=grids>")
        if regime in real:
            caption, png = real[regime]
            parts.append(figure(png, caption))
        for path in by_regime.get(regime, []):
            parts.append(figure(path.read_bytes(), " / ".join(path.with_suffix("").parts[-4:])))
        parts.append("</div>")
    return parts


def _read_optional(path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path and Path(path).stat().st_size > 1 else None


@dataclass
class _Run:
    """What the report's sections read: the run's tables (None where the run did not make them) and files."""

    df: pd.DataFrame  # every scored run
    raw: pd.DataFrame  # every run, diverged ones included
    diverged: pd.DataFrame
    acc: pd.DataFrame  # mean accuracy per arm and cell
    gains: pd.DataFrame  # paired gains over the baseline
    over_real: pd.DataFrame  # generator arms' paired gains over the other real-image arms (classic, oversampled)
    gen: pd.DataFrame | None
    prb: pd.DataFrame | None
    meta: dict
    files: dict  # the figure and log files the sections read
    few: list[str]  # the few-shot section (empty unless the grid is few-shot)


def _head(run: _Run) -> list[str]:
    named = ((run.meta.get("config") or {}).get("folder") or {}).get("name", "folder")  # results/<folder.name>
    datasets = ", ".join(f"folder {named}" if d == "folder" and named != "folder" else d
                         for d in run.df["dataset"].unique())
    return [
        f"<h1>genaug report: {esc(datasets)}</h1>",
        f"<p class=muted>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by genaug {__version__}.</p>",
        "<nav><a href=#answer>Answer</a><a href=#accuracy>Accuracy</a><a href=#gains>Gains</a>"
        "<a href=#table2>Best per cell</a><a href=#rsm>Real/synthetic/mixed</a><a href=#genmetrics>Generative "
        "metrics</a><a href=#probes>Probes</a><a href=#tsne>t-SNE</a><a href=#classes>Per class</a>"
        "<a href=#curves>Learning curves</a><a href=#samples>Samples</a><a href=#convergence>Convergence</a>" +
        ("<a href=#fewshot>Few-shot (003)</a>" if run.few else "") +
        "<a href=#run>Run</a></nav>",
        "<p class=note>Accuracy is measured on the dataset's test split (a built-in dataset's official one; a "
        "folder's test/ or its held-out folder.test_fraction), which no stage trains or selects on. "
        "Every arm of a cell (baseline, classic augmentation, oversampling, each generator, filtered or not, mixed or "
        "synthetic only) is trained by the same rule counted in optimizer steps: Adam, the same step cap, validation on"
        " a real split held out of every subset at the same interval, the same patience in steps, the best validated "
        "weights restored. A mixed set twice the size of the real one gets no more steps. Intervals are 95% Student-t "
        "intervals over seeds. Gains are paired on the seed (same subset, same classifier initialisation) and tested "
        "with a paired t-test; Holm's method adjusts the p-values across the m arms compared within a classifier x "
        f"regime x size. A gain is marked real (*) when its Holm-adjusted p is below {ALPHA}. The corrected interval "
        "is simultaneous: level 1 - 0.05/m, so the m intervals of a cell cover their true gains together with 95% "
        "probability; one that excludes 0 always belongs to a real gain, while a real gain's interval can still "
        "touch 0 (Holm is the more powerful of the two). A comparison whose paired differences are all equal "
        "(no spread across seeds) makes no claim. With few seeds the intervals are wide: read them before the means. "
        "Where a cell has no answer, it says how many seeds would give each comparison its best arm must win "
        f"{POWER:.0%} power if the observed gains and spreads held: a guide to whether more seeds are worth running, "
        "not a promise.</p>",
        *_seed_warning(run.df),
        *_classic_note(run.df),
        *_diverged_note(run.diverged),
    ]


def _answer(run: _Run) -> list[str]:
    rule = ("<p>A generator is recommended only where its gain is real over the baseline and over each real-image "
            "arm that needs no generator (<a href=#over-real>the table below the gains</a>).</p>"
            if not run.over_real.empty else "")
    test_per_class = ((run.meta.get("config") or {}).get("test") or {}).get("per_class")
    return ["<h2 id=answer>Which generator to use, and how sure we are</h2>", rule,
            _recommendations(run.gains, run.over_real) if not run.gains.empty
            else "<p class=muted>Only the baseline ran: nothing to compare.</p>",
            *_test_balance(run.files["dataset"], test_per_class)]


def _accuracy(run: _Run) -> list[str]:
    parts = ["<h2 id=accuracy>Test accuracy vs. amount of real data</h2>"]
    for clf, g in run.df[run.df["train_set"] != "synthetic"].groupby("classifier", sort=False):
        parts += [f"<h3>{esc(clf)}</h3>", fig_img(figures.accuracy_vs_size(g), f"accuracy vs size {clf}")]
    return parts


def _gains(run: _Run) -> list[str]:
    if run.gains.empty:
        return []
    parts = ["<h2 id=gains>Paired gain over the baseline</h2>",
             "<p>Colour: the mean paired gain. *: real after Holm correction.</p>"]
    for clf, g in run.gains.groupby("classifier", sort=False):
        parts.append(fig_img(figures.gain_heatmap(g, f"{clf}: accuracy gain over baseline"), f"gain heatmap {clf}"))
    return parts + [
        _gain_table(run.gains), *_over_real_section(run.over_real),
        "<h2 id=table2>Best model per cell (000's Table 2)</h2>",
        "<p>Ours: the model with the highest mean test accuracy (mixed training set), * when its gain is "
        "real after correction. 000's: one run per cell against a baseline trained far too briefly (its "
        "CNN scored 0.406 on balanced n1000, where ours trains to about 0.8).</p>",
        _table2_000(run.acc, run.gains, run.df["dataset"].iloc[0])]


def _over_real_section(over_real: pd.DataFrame) -> list[str]:
    """Each generator arm against the real-image arms that need no generator (classic, oversampled)."""
    if over_real.empty:
        return []
    return ["<h3 id=over-real>Generators against the other real-image arms</h3>",
            "<p>A generator's images are worth their cost only where they beat what needs no generator: classic "
            "augmentation, and on unequal classes the real images drawn in class-balanced passes (oversampled). "
            "Each generator arm (trained on real + synthetic) against each such arm of its cell, paired on the seed, "
            "Holm-corrected across the generator arms of a cell and reference. The answer above recommends a "
            "generator only where it beats the baseline and every one of these.</p>",
            _gain_table(over_real, reference=True)]


def _rsm(run: _Run) -> list[str]:
    return ["<h2 id=rsm>Training on real, synthetic only, and mixed (004's Table 2)</h2>",
            "<p>All scored on the real test split. Synthetic only is the generator's classification accuracy score "
            "(CAS); 004 scored its columns on generated test images, which we never do.</p>",
            _real_synthetic_mixed(run.acc, run.gen)]


def _genmetrics(run: _Run) -> list[str]:
    parts = ["<h2 id=genmetrics>Generative metrics vs. accuracy gain</h2>"]
    if run.gen is None or run.gen.empty or "domain_fd" not in run.gen:
        return parts + ["<p class=muted>No generative metrics in this run (gen_metrics.enabled is false, or no "
                        "generator ran).</p>"]
    gen = label_filtered(run.gen.assign(filter=run.gen["filter"].fillna("none").astype(str)))
    return (parts + _gen_metrics_section(gen, run.gains) + _yardstick_section(gen)
            + _class_fd_section(gen, _class_names(run.files["dataset"])))


def _overlap_words(run: _Run, ok: pd.DataFrame) -> str:
    """What the overlap archetype counts: the run's probes.overlap_classes group, or that the dataset has none
    (the default names Fashion-MNIST's shirt / pullover / coat, which a folder of other classes lacks)."""
    from ..config import probes_spec

    group = " / ".join(str(c) for c in probes_spec(run.meta.get("config") or {})["overlap_classes"] or [])
    if "overlap_confusion" in ok and ok["overlap_confusion"].notna().any():
        return f"at least 25% of the {esc(group)} group's test images go to another class of the group"
    return ("not tested: this dataset has no group of look-alike classes (probes.overlap_classes names "
            f"{esc(group or 'none')}); name two or more of its classes there to test it")


def _pixel_embedding_note(run: _Run, classifiers) -> list[str]:
    """The classifiers whose embedding is the pixels (softmax regression): their probe columns are the raw test
    images', the same in every row, which the table would otherwise show as if each arm had made them."""
    from ..classifiers import CLASSIFIERS
    from ..config import classifier_entries

    entries = classifier_entries(run.meta.get("config") or {})
    named = [c for c in classifiers
             if getattr(CLASSIFIERS.get((entries.get(c) or {}).get("arch")), "pixel_embedding", False)]
    if not named:
        return []
    return [f"<p class=note><b>{esc(', '.join(named))}</b>: the embedding is the pixels themselves (no hidden layer), "
            "so the CART, linear, k-NN, silhouette, intrinsic-dimension and group-confusion columns are the raw test "
            "images', the same in every row whatever the arm trained on; only the twin share reads the arm's "
            "synthetic images.</p>"]


def _probes(run: _Run) -> list[str]:
    prb = run.prb
    parts = ["<h2 id=probes>Embedding probes</h2>"]
    if prb is None or prb.empty or "probe_cart" not in prb:
        return parts + ["<p class=muted>No probes in this run (probes.enabled is false).</p>"]
    ok = prb[prb["status"] == "ok"].copy()
    ok["arm"] = [arm_label(m, t) for m, t in zip(ok["model"], ok["train_set"])]
    parts += ["<p>Probe accuracy is 5-fold cross-validated on the cell's test-set embeddings (000's Figure 11 "
              "plots CART accuracy against test accuracy and found no tight relation).</p>",
              fig_img(figures.scatter_panels(ok.rename(columns={"accuracy": "test accuracy"}),
                                             ["probe_cart", "probe_linear", "probe_knn", "silhouette"],
                                             "test accuracy", "arm"), "probe vs accuracy")]
    cell = ok.groupby(["classifier", "train_set", "model", "regime", "size", "size_value"], as_index=False)
    summ = cell.agg(cart=("probe_cart", "mean"), linear=("probe_linear", "mean"), knn=("probe_knn", "mean"),
                    silhouette=("silhouette", "mean"), dim=("intrinsic_dim", "mean"),
                    overlap=("overlap_confusion", "mean"), twins=("twin_share", "mean"),
                    archetype=("archetype", lambda a: a.mode().iloc[0]),
                    seeds=("archetype", "size")).sort_values(["classifier", "regime", "size_value", "model"])
    rows = [[esc(r.classifier), esc(r.train_set), esc(r.model), esc(r.regime), esc(r.size), fmt_num(r.cart, ".3f"),
             fmt_num(r.linear, ".3f"), fmt_num(r.knn, ".3f"), fmt_num(r.silhouette, ".3f"), fmt_num(r.dim, ".1f"),
             fmt_num(r.overlap, ".3f"), fmt_num(r.twins, ".2f"), f"<b>{esc(r.archetype)}</b> ({r.seeds} seeds)"]
            for r in summ.itertuples()]
    return parts + [
        "<p>Archetypes (000): <b>twin</b> = in at least half the classes, the synthetic embeddings form a "
        "cluster apart from the real ones (5-NN tells them apart at >= 0.9) yet nearest their own class; "
        f"<b>overlap</b> = {_overlap_words(run, ok)}; else <b>separated</b>. The majority over seeds is shown.</p>",
        html_table(["classifier", "training set", "model", "regime", "size", "CART", "linear", "k-NN",
                    "silhouette", "intrinsic dim", "group confusion", "twin share", "archetype"], rows, left=5),
        *_pixel_embedding_note(run, list(dict.fromkeys(summ["classifier"])))]


def _pictures(run: _Run) -> list[str]:
    """t-SNE, convergence, per-class tables, learning curves and samples."""
    f = run.files
    return [
        "<h2 id=tsne>t-SNE of the embeddings</h2>",
        *(_tsne_section(f["tsne"]) or ["<p class=muted>No t-SNE in this run (probes.tsne is false).</p>"]),
        *_convergence(run.df, run.meta),
        "<h2 id=classes>Per-class precision and recall (largest size of each regime)</h2>",
        *(_class_tables(run.df) or ["<p class=muted>No per-class scores.</p>"]),
        *_learning_curves(f["loss_logs"], f["curve_metrics"]),
        *(_samples_section(f["sample_pngs"], f["subsets"], f["dataset"]) if f["sample_pngs"] else []),
    ]


def _closing(run: _Run) -> list[str]:
    return [*run.few, *_run_summary(run.df, run.meta, run.gen, _dataset_notes(run.files["dataset"])),
            "<h3>Configuration</h3>",
            f"<pre>{esc(json.dumps(run.meta.get('config', {}), indent=2, sort_keys=True, ensure_ascii=False))}</pre>"]


SECTIONS = (_head, _answer, _accuracy, _gains, _rsm, _genmetrics, _probes, _pictures, _closing)


def build_report(summary_csv, sample_pngs: list, out, meta: dict | None = None, gen_metrics=None, probes=None,
                 tsne: list | None = None, filters=None, spheres: list | None = None, gencls=None,
                 dataset=None, loss_logs: list | None = None, curve_metrics: list | None = None,
                 subsets: list | None = None) -> None:
    """Write report.html from summary.csv (and gen_metrics.csv, probes.csv, t-SNE coordinates, sample PNGs,
    filters.csv, gencls.csv, the latent-sphere figures, the dataset cache's notes on how it was read, and for the
    cells it shows pictures of: generator loss logs, classifier metrics.json files and real subsets)."""
    meta = meta or {}
    df, raw, diverged = load_runs(summary_csv)  # diverged: no score exists for them; listed, not ranked
    acc = summarize(df).sort_values(["classifier", "regime", "size_value", "train_set", "model"], kind="stable")
    prb = _read_optional(probes)
    test_per_class = ((meta.get("config") or {}).get("test") or {}).get("per_class")
    run = _Run(df=df, raw=raw, diverged=diverged, acc=acc, gains=paired_gains(df), over_real=gains_over_real_arms(df),
               gen=_read_optional(gen_metrics),
               prb=label_filtered(prb) if prb is not None and not prb.empty else prb, meta=meta,
               files={"tsne": tsne or [], "loss_logs": loss_logs or [], "curve_metrics": curve_metrics or [],
                      "sample_pngs": sample_pngs, "subsets": subsets or [], "dataset": dataset},
               few=fewshot.section(raw, _read_optional(gencls), _read_optional(filters), spheres or [],
                                   test_per_class))
    parts = [part for section in SECTIONS for part in section(run)]
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>genaug report</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>")
    write_text(out, page)
