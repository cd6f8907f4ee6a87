"""The report's few-shot section (003's protocol): Table 1 (method x shots, ratio to the GAN
discriminator), Table 2 (generated vs qualified counts, accuracy before and after the sphere filter),
the thesis's claims checked against this run's paired differences, and the latent-sphere figures.

Every number is a replicate mean with a 95 % t-interval; comparisons are paired on the seed (the same
subset). The claims are checked one size at a time without a multiple-comparison correction, and
say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import ARMS
from ..stats import paired_diff, t_interval
from .figures import UNITS
from .markup import acc_interval, esc, fmt_num, gallery, html_table

DISC = "discriminator"
METHODS = ("M1", "M2", "M3", "M4")
# 003's Table 1 (MNIST, GAN discriminators as baseline): method -> {images per class: (discriminator, method)}.
THESIS_TABLE1 = {
    "M1": {1: (38.2, 41.3), 2: (42.1, 43.6), 5: (56.9, 57.4), 10: (61.2, 61.8), 100: (89.3, 66.4)},
    "M2": {1: (38.2, 44.6), 2: (42.1, 47.1), 5: (56.9, 63.2), 10: (61.2, 67.4), 100: (89.3, 71.3)},
    "M3": {1: (38.2, 41.9), 2: (42.1, 43.8), 5: (56.9, 58.3), 10: (61.2, 61.3), 100: (89.3, 66.7)},
    "M4": {1: (38.2, 44.2), 2: (42.1, 47.3), 5: (56.9, 62.9), 10: (61.2, 67.2), 100: (89.3, 71.9)},
}
# 003's Table 2 for MNIST: images per class -> (augmented, qualified, accuracy before, after), in %.
THESIS_TABLE2 = {5: (500, 425, 20.6, 25.8), 10: (1000, 895, 25.8, 30.2), 20: (2000, 1578, 27.1, 30.9),
                 100: (5000, 3685, 25.4, 24.8)}


def _long(summary: pd.DataFrame, gencls: pd.DataFrame | None, regime: str) -> pd.DataFrame:
    """One accuracy per (generator, method, size, seed): gencls's methods and the classifier arms."""
    rows = []
    if gencls is not None and not gencls.empty:
        ok = gencls[(gencls["status"] == "ok") & (gencls["regime"] == regime)]
        for method in [*METHODS, DISC]:
            col = f"accuracy:{method}"
            if col in ok:
                part = ok[["model", "size", "size_value", "seed", col]].rename(columns={col: "accuracy"})
                rows.append(part.assign(method=method))
    s = summary[(summary["regime"] == regime) & (summary["train_set"] != "synthetic")]
    s = s[s["status"] == "ok"] if "status" in s else s
    gens = sorted(set(s["model"]) - set(ARMS) | (set(gencls["model"]) if gencls is not None
                                                                   and not gencls.empty else set()))
    for r in s.itertuples():
        if r.model in ARMS:
            for g in gens:  # the arms without a generator sit in every generator's table
                rows.append(pd.DataFrame([{"model": g, "size": r.size, "size_value": r.size_value, "seed": r.seed,
                                           "accuracy": r.accuracy, "method": f"{r.classifier} {r.model}"}]))
        else:
            label = f"{r.classifier} + {r.model}" + ("" if r.filter == "none" else f" | {r.filter}")
            rows.append(pd.DataFrame([{"model": r.model, "size": r.size, "size_value": r.size_value,
                                       "seed": r.seed, "accuracy": r.accuracy, "method": label}]))
    if not rows:
        return pd.DataFrame(columns=["model", "size", "size_value", "seed", "accuracy", "method"])
    return pd.concat(rows, ignore_index=True)


def size_label(size: str, value) -> str:
    """A size as its regime counts it: k5 '5 real images per class', n1000 '1000 real training images', f50 '50 %
    of the train pool'. Only the shots regime (k) fixes the images per class that 003's tables and claims count."""
    unit = UNITS.get(str(size)[:1])
    return f"{value} {unit}" if unit else str(size)


def _series(long: pd.DataFrame, model: str, method: str, size: str) -> pd.Series:
    sel = long[(long["model"] == model) & (long["method"] == method) & (long["size"] == size)]
    return sel.set_index("seed")["accuracy"].astype(float)


def _mean_ci(values: pd.Series, seeds: int = 0) -> str:
    """Mean [95% CI]; with `seeds` (the run's seed count) a cell that has fewer says how many it has."""
    if values.empty:
        return "–"
    lo, hi = t_interval(values)
    ci = "" if np.isnan(lo) else f" {acc_interval(lo, hi)}"
    short = f" <span class=muted>({len(values)} of {seeds} seeds)</span>" if len(values) < seeds else ""
    return f"{values.mean():.3f}{ci}{short}"


def _logits(gencls: pd.DataFrame | None, regime: str, model: str) -> dict:
    """{size: (own-class, other-class) mean discriminator score} over the ok seeds, where gencls recorded it."""
    cols = ["discriminator_logit:own_class", "discriminator_logit:other_classes"]
    if gencls is None or gencls.empty or not set(cols) <= set(gencls):
        return {}
    ok = gencls[(gencls["status"] == "ok") & (gencls["regime"] == regime) & (gencls["model"] == model)]
    means = ok.dropna(subset=cols).groupby("size")[cols].mean()
    return {size: tuple(row) for size, row in zip(means.index, means.to_numpy())}


def table1(long: pd.DataFrame, model: str, logits: dict | None = None) -> str:
    """Method x images per class: mean accuracy [95 % CI] and the ratio to the discriminator's mean.

    `logits` ({size: (own, others)}) adds a row with the mean score a test image gets from its own
    class's discriminator and from the other classes': it says why the discriminator ranks as it does."""
    sub = long[long["model"] == model]
    sizes = sub.drop_duplicates("size").sort_values("size_value")[["size", "size_value"]].itertuples(index=False)
    sizes = list(sizes)
    methods = [m for m in [*METHODS, DISC] if m in set(sub["method"])]
    methods += sorted(set(sub["method"]) - set(methods))
    seeds = long["seed"].nunique()
    rows = []
    for method in methods:
        cells = []
        for size, value in sizes:
            acc = _series(long, model, method, size)
            disc = _series(long, model, DISC, size)
            ratio = (f" ({100 * acc.mean() / disc.mean():.0f}%)" if len(acc) and len(disc) and method != DISC
                     and disc.mean() > 0 else "")
            shots = str(size).startswith("k")
            thesis = THESIS_TABLE1.get(method, {}).get(value) if shots else None
            published = f"<br><span class=muted>003: {thesis[1]:.1f}%</span>" if thesis else ""
            if method == DISC and shots and value in THESIS_TABLE1["M1"]:
                published = f"<br><span class=muted>003: {THESIS_TABLE1['M1'][value][0]:.1f}%</span>"
            cells.append(_mean_ci(acc, seeds) + ratio + published)
        rows.append([esc(method), *cells])
    if logits:
        rows.append(["<span class=muted>discriminator score: own class / other classes</span>",
                     *(f"<span class=muted>{logits[size][0]:+.2f} / {logits[size][1]:+.2f}</span>"
                       if size in logits else "–" for size, _ in sizes)])
    return html_table(["method", *(esc(size_label(size, v)) for size, v in sizes)], rows, left=1)


def table2(summary: pd.DataFrame, filters: pd.DataFrame | None, regime: str) -> str:
    """Dataset x images per class (per generator and filter): generated / qualified images and the
    mixed classifier's accuracy before and after filtering, with the paired change."""
    if filters is None or filters.empty:
        return "<p class=muted>No filtered synthetic sets in this run (grid.filters has only none).</p>"
    ok = filters[(filters["status"] == "ok") & (filters["regime"] == regime)]
    s = summary[(summary["regime"] == regime) & (summary["train_set"] == "mixed")]
    seeds = s["seed"].nunique()
    rows = []
    keys = ok.groupby(["dataset", "model", "filter", "size"], sort=False)
    for (dataset, model, flt, size), g in sorted(keys, key=lambda kv: (kv[0][1], kv[0][2], kv[1]["size"].iloc[0][1:]
                                                                        .zfill(6))):
        value = int(str(size)[1:])
        clf_rows = []
        for clf, c in s[(s["model"] == model) & (s["size"] == size)].groupby("classifier"):
            before = c[c["filter"] == "none"].set_index("seed")["accuracy"].astype(float)
            after = c[c["filter"] == flt].set_index("seed")["accuracy"].astype(float)
            d = paired_diff(after, before)
            cls = ("pos" if d["diff"] > 0 else "neg") if d["ci_low"] > 0 or d["ci_high"] < 0 else "muted"
            ci = "n/a" if np.isnan(d["ci_low"]) else f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
            clf_rows.append((clf, _mean_ci(before, seeds), _mean_ci(after, seeds),
                             f"<span class={cls}>{fmt_num(d['diff'], '+.3f')}</span> {ci}"))
        thesis = THESIS_TABLE2.get(value) if regime == "shots" else None
        published = (f"{thesis[0]} / {thesis[1]}; {thesis[2]:.1f}% -> {thesis[3]:.1f}%" if thesis else "–")
        for clf, before, after, change in clf_rows or [("–", "–", "–", "–")]:
            rows.append([esc(dataset), esc(model), esc(flt), esc(size_label(size, value)),
                         f"{g['generated'].mean():.0f}", f"{g['qualified'].mean():.0f}",
                         fmt_num(g["real_inside_fraction"].mean(), ".2f"), esc(clf), before, after, change,
                         esc(published)])
        if "n_undefined_classes" in g and g["n_undefined_classes"].max() > 0:
            rows[-1][2] += " <span class=muted>(classes with under 2 real images have no sphere: kept whole)</span>"
    return html_table(["dataset", "generator", "filter", "size", "generated", "qualified", "real inside",
                   "classifier", "accuracy before", "after", "change [95% CI]", "003 (MNIST): generated / qualified; "
                   "before -> after"], rows, left=3)


def _verdict(d: dict, direction: int) -> str:
    if d["n_pairs"] < 2:
        return "not resolved (under 2 seeds)"
    lo, hi = d["ci_low"], d["ci_high"]
    if (lo > 0 and direction > 0) or (hi < 0 and direction < 0):
        return "supported"
    if (lo > 0 and direction < 0) or (hi < 0 and direction > 0):
        return "contradicted"
    return "not resolved"


def _claims(long: pd.DataFrame, summary: pd.DataFrame, regime: str) -> str:
    """The thesis's claims, each checked per generator and size by a paired difference over seeds."""
    claims = [
        ("M1-M4 beat the GAN discriminator with 1-10 images per class (Table 1: 101-117%)",
         [(m, DISC) for m in METHODS], lambda v: v <= 10, +1),
        ("M1-M4 fall below the discriminator at 100 images per class (Table 1: 74-81%)",
         [(m, DISC) for m in METHODS], lambda v: v >= 100, -1),
        ("the VAE's latent space helps: M2 beats M1 and M4 beats M3", [("M2", "M1"), ("M4", "M3")],
         lambda v: True, +1),
        ("the neighbourhood variants improve on their base methods: M3 beats M1 and M4 beats M2",
         [("M3", "M1"), ("M4", "M2")], lambda v: True, +1),
    ]
    methods = set(long["method"])
    for flt in sorted({m.split(" | ", 1)[1] for m in methods if " | " in m}):
        pairs = sorted({(m, m.split(" | ", 1)[0]) for m in methods if m.endswith(f" | {flt}")})
        claims += [(f"filtering with {flt} raises the classifier's accuracy at 5-20 images per class (Table 2: "
                    "+3.8 to +5.2 points on MNIST)", pairs, lambda v: 5 <= v <= 20, +1),
                   (f"filtering with {flt} does not help at 100 images per class (Table 2: 25.4% -> 24.8%)", pairs,
                    lambda v: v >= 100, -1)]
    rows = []
    for text, pairs, sizes_ok, direction in claims:
        evidence, verdicts = [], []
        for model in sorted(set(long["model"])):
            sub = long[long["model"] == model]
            for size, value in sub.drop_duplicates("size").sort_values("size_value")[["size", "size_value"]].values:
                if not sizes_ok(int(value)):
                    continue
                for a, b in pairs:
                    if a not in methods or b not in methods:
                        continue
                    d = paired_diff(_series(long, model, a, size), _series(long, model, b, size))
                    if d["n_pairs"] == 0:
                        continue
                    v = _verdict(d, direction)
                    verdicts.append(v)
                    ci = "" if np.isnan(d["ci_low"]) else f" [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
                    evidence.append(f"{esc(model)} {esc(size)}: {esc(a)} - {esc(b)} = {d['diff']:+.3f}{ci} {v}")
        if not verdicts:
            overall = "<span class=muted>not tested (no such cells in this run)</span>"
        elif all(v == "supported" for v in verdicts):
            overall = "<span class=pos>supported</span>"
        elif all(v == "contradicted" for v in verdicts):
            overall = "<span class=neg>contradicted</span>"
        else:
            counts = {k: verdicts.count(k) for k in ("supported", "contradicted") if verdicts.count(k)}
            n_open = sum(v.startswith("not resolved") for v in verdicts)
            overall = ", ".join([*(f"{n} {k}" for k, n in counts.items()),
                                 *([f"{n_open} not resolved"] if n_open else [])]) + f" of {len(verdicts)}"
        rows.append([esc(text), overall, "<br>".join(evidence) or "–"])
    return html_table(["003's claim", "our verdict", "paired differences (95% CI over seeds)"], rows, left=3)


def section(summary: pd.DataFrame, gencls: pd.DataFrame | None, filters: pd.DataFrame | None,
            spheres: list, test_per_class) -> list[str]:
    """The few-shot section's HTML parts (empty when the run has neither gencls nor filtered sets)."""
    if (gencls is None or gencls.empty) and (filters is None or filters.empty):
        return []
    regimes = set()
    for frame in (gencls, filters):
        if frame is not None and not frame.empty:
            regimes |= set(frame["regime"])
    test = (f"a fixed, balanced {test_per_class} test images per class (003's protocol)" if test_per_class
            else "the whole test split")
    parts = ["<h2 id=fewshot>Generative classifiers and the latent-sphere filter (003)</h2>",
             f"<p>Accuracy on {test}, mean [95% CI] over seeds. M1/M3 compare a test image with each class's "
             "generated images in pixel space, M2/M4 in the latent space of a VAE trained on the cell's real images; "
             "the discriminator row classifies by the most convinced per-class discriminator (003's baseline), with "
             "each method's ratio to it in brackets. The table's last row is the mean score (logit) a test image "
             "gets from its own class's discriminator and from the other classes': a discriminator near equilibrium "
             "scores its class's real images about like its generator's (near 0) and never saw the other classes, so "
             "where the own-class score is not the higher the baseline falls below chance. The classifier rows are "
             "trained by the same early-stopping rule as every arm of the grid. 003's own numbers (MNIST, one run "
             "each) are printed in grey for comparison: they are claims, not targets.</p>"]
    for regime in sorted(regimes):
        long = _long(summary, gencls, regime)
        for model in sorted(set(long["model"])):
            if gencls is not None and not gencls.empty and model in set(gencls["model"]):
                parts += [f"<h3>Table 1: {esc(model)}, regime {esc(regime)}</h3>",
                          table1(long, model, _logits(gencls, regime, model))]
        parts += [f"<h3>Table 2: the latent-sphere filter, regime {esc(regime)}</h3>",
                  "<p>Generated: synthetic images made for the cell; qualified: those inside their class's sphere "
                  "(means over seeds). Real inside: the share of the real codes inside their sphere (the filter's "
                  "keep fraction). Accuracy before / after: the classifier on real + all synthetic images vs real + "
                  "the qualified ones; the change is paired on the seed.</p>",
                  table2(summary, filters, regime)]
        if regime != "shots":  # 003's claims count images per class, which only the shots regime fixes
            parts.append(f"<p class=muted>003's claims are about images per class, which only the shots regime fixes: "
                         f"they are not checked on regime {esc(regime)}.</p>")
            continue
        parts += [f"<h3>003's claims against this run (regime {esc(regime)})</h3>",
                  "<p>Each claim is checked per generator and size by the paired difference over seeds: "
                  "<b>supported</b> when its 95% interval lies on the claimed side of 0, <b>contradicted</b> when it "
                  "lies on the other side, <b>not resolved</b> when it spans 0. No multiple-comparison correction "
                  "is applied here: read a lone 'supported' among many checks with care.</p>",
                  _claims(long, summary, regime)]
    if spheres:
        parts += gallery("<h3>Latent space with each class's sphere (003's Figure 21)</h3>", spheres, depth=5)
    return parts
