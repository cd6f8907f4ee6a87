"""The HTML report: one self-contained file (figures inlined as base64 PNG) that opens offline.

Every number in it is read from the files this run wrote: summary.csv, gen_metrics.csv, probes.csv,
the t-SNE coordinates and the sample grids. Sections that have no data say so instead of vanishing.
"""

from __future__ import annotations

import base64
import html
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..io import write_text
from ..stats import ALPHA, paired_gain, summarize, with_train_set
from . import figures

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
               "inception_fid": "Inception FID (lower better)"}


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fig(fig, alt: str) -> str:
    return _img(figures.png_bytes(fig), alt)


def _e(value) -> str:
    return html.escape(str(value))


def _ci(lo, hi) -> str:
    """A difference's interval: signed."""
    return "n/a (1 seed)" if pd.isna(lo) else f"[{lo:+.3f}, {hi:+.3f}]"


def _acc_ci(lo, hi) -> str:
    """An accuracy's interval: unsigned and clipped to [0, 1], as the figures draw it (with 2 seeds a
    t-interval easily runs past 1)."""
    return "n/a (1 seed)" if pd.isna(lo) else f"[{max(lo, 0.0):.3f}, {min(hi, 1.0):.3f}]"


def _num(v, fmt=".4f") -> str:
    return "–" if v is None or pd.isna(v) else format(v, fmt)


def _table(head: list[str], rows: list[list[str]], left: int = 0) -> str:
    """An HTML table; the first `left` columns are left-aligned text (cells are already escaped)."""
    th = "".join(f"<th{' class=l' if i < left else ''}>{h}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{' class=l' if i < left else ''}>{c}</td>" for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def arm_label(model: str, train_set: str) -> str:
    """A row's name in figures: the model, with `[synthetic only]` for its CAS classifier."""
    return f"{model} [synthetic only]" if train_set == "synthetic" else model


def _gain_cell(r) -> str:
    cls = ("pos" if r.gain > 0 else "neg") if r.real else "muted"
    return f"<td class={cls}>{r.gain:+.4f}{' *' if r.real else ''}</td>"


def _gain_table(gains: pd.DataFrame) -> str:
    head = ["classifier", "regime", "size", "model", "training set", "baseline", "model acc", "gain",
            "95% CI", "p", "Holm p", "Holm-corrected CI", "seeds won"]
    rows = []
    for r in gains.itertuples():
        rows.append([_e(r.classifier), _e(r.regime), _e(r.size), _e(r.model), _e(r.train_set),
                     _num(r.baseline_mean), _num(r.model_mean), "GAIN", _ci(r.gain_ci_low, r.gain_ci_high),
                     _num(r.p_value, ".3g"), _num(r.p_holm, ".3g"), _ci(r.ci_corr_low, r.ci_corr_high),
                     f"{r.wins}/{r.n_pairs}"])
    out = _table(head, rows, left=5)
    for r in gains.itertuples():  # the gain cell carries its colour class
        out = out.replace("<td>GAIN</td>", _gain_cell(r), 1)
    return out


def _recommendations(gains: pd.DataFrame) -> str:
    """Per classifier x regime x size: the best arm whose Holm-corrected gain is real, or why there is none."""
    rows = []
    for key, g in gains[gains["train_set"] != "synthetic"].groupby(["classifier", "regime", "size_value", "size"],
                                                                     sort=True):
        clf, regime, _, size = key
        real = g[g["real"] & (g["gain"] > 0)].sort_values("gain", ascending=False)
        best = g.sort_values("gain", ascending=False).iloc[0]
        if len(real):
            r = real.iloc[0]
            verdict = (f"<b>{_e(r.model)}</b>: {r.gain:+.4f} (corrected CI {_ci(r.ci_corr_low, r.ci_corr_high)}, "
                       f"{r.wins}/{r.n_pairs} seeds)")
        elif best.n_pairs < 2:
            verdict = f"<span class=muted>one seed: no claim (highest mean: {_e(best.model)} {best.gain:+.4f})</span>"
        else:
            verdict = (f"<span class=muted>no generator beats the baseline after Holm correction (highest mean: "
                       f"{_e(best.model)} {best.gain:+.4f}, corrected CI "
                       f"{_ci(best.ci_corr_low, best.ci_corr_high)})</span>")
        hurt = g[g["real"] & (g["gain"] < 0)]["model"].tolist()
        rows.append([_e(clf), _e(regime), _e(size), _e(f"{best.baseline_mean:.4f}"), verdict,
                     _e(", ".join(hurt)) or "–"])
    return _table(["classifier", "regime", "size", "baseline acc", "use", "real losses (avoid)"], rows, left=3)


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
        rows.append([_e(clf), _e(regime), _e(size), f"{base['mean'].iloc[0]:.3f}",
                     f"{best['mean']:.3f} ({_e(best.model)})", f"{best['mean'] - base['mean'].iloc[0]:+.3f}"
                     + (" *" if real else ""),
                     *(["–", "–", "–"] if pub is None else [f"{pub[0]:.3f}", f"{pub[1]:.3f} ({pub[2]})",
                                                          f"{pub[1] - pub[0]:+.3f}"])])
    return _table(["classifier", "regime", "size", "baseline (ours)", "best (ours)", "Δ (ours)", "baseline (000)",
                   "best (000)", "Δ (000)"], rows, left=3)


def _real_synthetic_mixed(acc: pd.DataFrame, gen: pd.DataFrame | None) -> str:
    """004's Table 2 form: accuracy trained on real / synthetic only (CAS) / mixed, on the real test split."""
    rows = []
    for (clf, regime, _, size), g in acc.groupby(["classifier", "regime", "size_value", "size"]):
        base = g[g["model"] == "baseline"]["mean"]
        for model in [m for m in dict.fromkeys(g["model"]) if m not in ("baseline", "classic")]:
            get = g[g["model"] == model].set_index("train_set")
            cell = [_e(clf), _e(regime), _e(size), _e(model),
                    _num(base.iloc[0] if len(base) else None, ".4f"),
                    *(f"{_num(get.loc[t, 'mean'])} {_acc_ci(get.loc[t, 'ci_low'], get.loc[t, 'ci_high'])}"
                      if t in get.index else "–" for t in ("synthetic", "mixed"))]
            if gen is not None:
                m = gen[(gen["model"] == model) & (gen["regime"] == regime) & (gen["size"] == size)]
                cell += [_num(m["domain_fd"].mean() if len(m) else None, ".2f"),
                         _num(m["domain_is"].mean() if len(m) else None, ".2f")]
            rows.append(cell)
    head = ["classifier", "regime", "size", "model", "Acc (real)", "Acc (synthetic only, CAS) [95% CI]",
            "Acc (mixed) [95% CI]"] + (["domain FD", "domain IS"] if gen is not None else [])
    return _table(head, rows, left=4)


def _diverged_note(diverged: pd.DataFrame) -> list[str]:
    """A visible list of the cells whose generator diverged: they have no score and are left out."""
    if diverged.empty:
        return []
    rows = [[_e(r.model), _e(r.regime), _e(r.size), _e(r.seed), _e(r.reason)] for r in diverged.itertuples()]
    return [
        "<h2 id=diverged>Diverged generators</h2>",
        f"<p class=note>{len(diverged)} classifier run(s) were not trained because their generator diverged "
        "(a non-finite loss, or samples that collapsed to near-identical images). They have no score and are left "
        "out of every table and figure below, so a model's mean there is over its remaining seeds only, "
        "which flatters it: count its seeds before trusting its rank.</p>",
        _table(["model", "regime", "size", "seed", "reason"], rows, left=3),
    ]


def _class_tables(df: pd.DataFrame) -> list[str]:
    """Per-class precision and recall heatmaps, row = model (training set), per classifier x regime at its largest size."""
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
            parts.append(_fig(figures.class_heatmap(
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
        parts += [f"<h3>{_e(' / '.join(key))}</h3>", _fig(figures.tsne_grid(panels), "t-SNE " + " ".join(key))]
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
    line = "machines: " + ", ".join(f"{_e(m)} ({n} run{'s' if n != 1 else ''})" for m, n in counts.items())
    if len(counts) < 2:
        return [line]
    return [line + ". <b>The runs come from more than one machine</b>: the same seed can score differently on "
            "another machine (early stopping may pick another epoch; README: What the numbers mean). The "
            "intervals over seeds still hold; an exact rerun of a cell needs the same kind of machine"]


def _run_summary(df: pd.DataFrame, meta: dict, gen: pd.DataFrame | None) -> list[str]:
    cfg = meta.get("config", {})
    items = [
        f"genaug {__version__}, Python {platform.python_version()}, torch {_e(_version('torch'))}, "
        f"scikit-learn {_e(_version('scikit-learn'))}, pandas {pd.__version__}",
        f"effort <b>{_e(meta.get('effort', '?'))}</b>, seeds {sorted(df['seed'].unique().tolist())}, "
        f"device {_e(cfg.get('device', '?'))}",
        f"{len(df)} classifier runs; classifier wall time {df['wall_time_s'].sum() / 3600:.2f} h in total "
        f"(median {df['wall_time_s'].median():.0f} s per run)" if "wall_time_s" in df and df["wall_time_s"].notna().any()
        else f"{len(df)} classifier runs",
        *_machines(df),
    ]
    if gen is not None and len(gen):
        ref = gen["reference_test_accuracy"].dropna()
        if len(ref):
            items.append(f"reference classifier (the generative metrics' feature extractor): test accuracy "
                         f"{ref.iloc[0]:.4f}")
        if "inception_fid_unavailable" in gen and gen["inception_fid_unavailable"].notna().any():
            items.append("<b>Inception FID unavailable</b>: " + _e(gen["inception_fid_unavailable"].dropna().iloc[0]))
        bad = gen[gen["status"] != "ok"] if "status" in gen else gen.iloc[:0]
        if len(bad):
            items.append(f"{len(bad)} synthetic set(s) without generative metrics (diverged or empty): "
                         + _e(", ".join(f"{r.model} {r.regime} {r.size} s{r.seed}" for r in bad.itertuples())))
    return ["<h2 id=run>Run summary</h2><ul>", *(f"<li>{i}</li>" for i in items), "</ul>"]


def gallery(heading: str, pngs: list, depth: int) -> list[str]:
    """A heading and the PNG files side by side, each captioned by the last `depth` parts of its path."""
    parts = [f"{heading}<div class=grids>"]
    for path in sorted(map(Path, pngs)):
        caption = " / ".join(path.with_suffix("").parts[-depth:])
        parts.append(f"<figure>{_img(path.read_bytes(), caption)}<figcaption>{_e(caption)}</figcaption></figure>")
    return [*parts, "</div>"]


def _read_optional(path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path and Path(path).stat().st_size > 1 else None


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


def build_report(summary_csv, sample_pngs: list, out, meta: dict | None = None, gen_metrics=None, probes=None,
                 tsne: list | None = None, filters=None, spheres: list | None = None, gencls=None) -> None:
    """Write report.html from summary.csv (and gen_metrics.csv, probes.csv, t-SNE coordinates, sample PNGs,
    filters.csv, gencls.csv and the latent-sphere figures)."""
    from . import fewshot

    meta = meta or {}
    df = pd.read_csv(summary_csv, keep_default_na=False, na_values=[""])
    df = with_train_set(df)
    raw = df.copy()
    df = label_filtered(df)
    df = df.sort_values(["regime", "size_value", "model", "seed"], kind="stable")
    diverged = df[df["status"] == "diverged"] if "status" in df else df.iloc[:0]
    df = df.drop(diverged.index)  # no score exists for them; they are listed, not ranked
    order = ["classifier", "regime", "size_value", "train_set", "model"]  # sizes numerically, not as strings
    acc = summarize(df).sort_values(order, kind="stable")
    gains = paired_gain(df)
    if not gains.empty:
        gains = gains.sort_values(order, kind="stable")
        gains["arm"] = [arm_label(m, t) for m, t in zip(gains["model"], gains["train_set"])]
    gen, prb = _read_optional(gen_metrics), _read_optional(probes)
    prb = label_filtered(prb) if prb is not None and not prb.empty else prb
    test_per_class = ((meta.get("config") or {}).get("test") or {}).get("per_class")
    few = fewshot.section(raw, _read_optional(gencls), _read_optional(filters), spheres or [], test_per_class)
    datasets = ", ".join(df["dataset"].unique())
    parts = [
        f"<h1>genaug report: {_e(datasets)}</h1>",
        f"<p class=muted>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by genaug {__version__}.</p>",
        "<nav><a href=#answer>Answer</a><a href=#accuracy>Accuracy</a><a href=#gains>Gains</a>"
        "<a href=#table2>Best per cell</a><a href=#rsm>Real/synthetic/mixed</a><a href=#genmetrics>Generative "
        "metrics</a><a href=#probes>Probes</a><a href=#tsne>t-SNE</a><a href=#classes>Per class</a>"
        "<a href=#samples>Samples</a>" + ("<a href=#fewshot>Few-shot (003)</a>" if few else "") +
        "<a href=#run>Run</a></nav>",
        "<p class=note>Accuracy is measured on the dataset's official test split, which no stage trains or selects on. "
        "Every arm (baseline, classic augmentation, each generator) is trained by the same rule: Adam, early stopping "
        "on a real validation split held out of every subset, and the same epoch cap. Intervals are 95% Student-t "
        "intervals over seeds. Gains are paired on the seed (same subset, same classifier initialisation), tested "
        f"with a paired t-test, and Holm-corrected across the models compared within a classifier x regime x size. "
        f"A gain is marked real (*) only when its Holm-corrected p is below {ALPHA}, which is when its corrected "
        "interval excludes 0. With few seeds the intervals are wide: read them before the means.</p>",
        *_diverged_note(diverged),
        "<h2 id=answer>Which generator to use, and how sure we are</h2>",
    ]
    parts += [_recommendations(gains)] if not gains.empty else ["<p class=muted>Only the baseline ran: nothing to "
                                                                "compare.</p>"]
    parts.append("<h2 id=accuracy>Test accuracy vs. amount of real data</h2>")
    for clf, g in df[df["train_set"] != "synthetic"].groupby("classifier", sort=False):
        parts += [f"<h3>{_e(clf)}</h3>", _fig(figures.accuracy_vs_size(g), f"accuracy vs size {clf}")]
    if not gains.empty:
        parts += ["<h2 id=gains>Paired gain over the baseline</h2>",
                  "<p>Colour: the mean paired gain. *: real after Holm correction.</p>"]
        for clf, g in gains.groupby("classifier", sort=False):
            parts.append(_fig(figures.gain_heatmap(g, f"{clf}: accuracy gain over baseline"), f"gain heatmap {clf}"))
        parts.append(_gain_table(gains))
        parts += ["<h2 id=table2>Best model per cell (000's Table 2)</h2>",
                  "<p>Ours: the model with the highest mean test accuracy (mixed training set), * when its gain is "
                  "real after correction. 000's: one run per cell against a baseline trained far too briefly (its "
                  "CNN scored 0.406 on balanced n1000, where ours trains to about 0.8).</p>",
                  _table2_000(acc, gains, df["dataset"].iloc[0])]
    parts += ["<h2 id=rsm>Training on real, synthetic only, and mixed (004's Table 2)</h2>",
              "<p>All scored on the real test split. Synthetic only is the generator's classification accuracy score "
              "(CAS); 004 scored its columns on generated test images, which we never do.</p>",
              _real_synthetic_mixed(acc, gen)]
    parts.append("<h2 id=genmetrics>Generative metrics vs. accuracy gain</h2>")
    if gen is None or gen.empty or gains.empty or "domain_fd" not in gen:
        parts.append("<p class=muted>No generative metrics in this run (gen_metrics.enabled is false, or no "
                     "generator ran).</p>")
    else:
        g = gen[gen["status"] == "ok"].groupby(["model", "regime", "size"], as_index=False).mean(numeric_only=True)
        joined = gains[gains["train_set"] == "mixed"].merge(g, on=["model", "regime", "size"], how="inner")
        cols = [c for c in GEN_COLUMNS if c in joined and joined[c].notna().any()]
        parts += ["<p>Each point is one model x regime x size (means over seeds). Spearman's rank correlation tests "
                  "001's claim that a better FID means more utility: a negative rho for the distances, a positive one "
                  "for precision / recall / coverage / IS would support it.</p>",
                  _fig(figures.scatter_panels(joined, cols[:5], "gain", "model", GEN_COLUMNS), "metrics vs gain")]
        if len(cols) > 5:
            parts.append(_fig(figures.scatter_panels(joined, cols[5:], "gain", "model", GEN_COLUMNS),
                              "metrics vs gain (2)"))
        rows = [[_e(r.model), _e(r.regime), _e(r.size), *(_num(getattr(r, c), ".3f") for c in cols)]
                for r in g.itertuples()]
        parts.append(_table(["model", "regime", "size", *(GEN_COLUMNS[c] for c in cols)], rows, left=3))
    parts.append("<h2 id=probes>Embedding probes</h2>")
    if prb is None or prb.empty or "probe_cart" not in prb:
        parts.append("<p class=muted>No probes in this run (probes.enabled is false).</p>")
    else:
        ok = prb[prb["status"] == "ok"].copy()
        ok["arm"] = [arm_label(m, t) for m, t in zip(ok["model"], ok["train_set"])]
        parts += ["<p>Probe accuracy is 5-fold cross-validated on the cell's test-set embeddings (000's Figure 11 "
                  "plots CART accuracy against test accuracy and found no tight relation).</p>",
                  _fig(figures.scatter_panels(ok.rename(columns={"accuracy": "test accuracy"}),
                                              ["probe_cart", "probe_linear", "probe_knn", "silhouette"],
                                              "test accuracy", "arm"), "probe vs accuracy")]
        cell = ok.groupby(["classifier", "train_set", "model", "regime", "size", "size_value"], as_index=False)
        summ = cell.agg(cart=("probe_cart", "mean"), linear=("probe_linear", "mean"), knn=("probe_knn", "mean"),
                        silhouette=("silhouette", "mean"), dim=("intrinsic_dim", "mean"),
                        overlap=("overlap_confusion", "mean"), twins=("twin_share", "mean"),
                        archetype=("archetype", lambda a: a.mode().iloc[0]),
                        seeds=("archetype", "size")).sort_values(["classifier", "regime", "size_value", "model"])
        rows = [[_e(r.classifier), _e(r.train_set), _e(r.model), _e(r.regime), _e(r.size), _num(r.cart, ".3f"),
                 _num(r.linear, ".3f"), _num(r.knn, ".3f"), _num(r.silhouette, ".3f"), _num(r.dim, ".1f"),
                 _num(r.overlap, ".3f"), _num(r.twins, ".2f"), f"<b>{_e(r.archetype)}</b> ({r.seeds} seeds)"]
                for r in summ.itertuples()]
        parts += ["<p>Archetypes (000): <b>twin</b> = in at least half the classes, the synthetic embeddings form a "
                  "cluster apart from the real ones (5-NN tells them apart at >= 0.9) yet nearest their own class; "
                  "<b>overlap</b> = at least 25% of the shirt / pullover / coat group's test images go to another "
                  "class of the group; else <b>separated</b>. The majority over seeds is shown.</p>",
                  _table(["classifier", "training set", "model", "regime", "size", "CART", "linear", "k-NN",
                          "silhouette", "intrinsic dim", "group confusion", "twin share", "archetype"], rows, left=5)]
    parts.append("<h2 id=tsne>t-SNE of the embeddings</h2>")
    parts += _tsne_section(tsne or []) or ["<p class=muted>No t-SNE in this run (probes.tsne is false).</p>"]
    parts.append("<h2 id=classes>Per-class precision and recall (largest size of each regime)</h2>")
    parts += _class_tables(df) or ["<p class=muted>No per-class scores.</p>"]
    if sample_pngs:
        parts += gallery("<h2 id=samples>Synthetic samples</h2>", sample_pngs, depth=4)
    parts += few
    parts += _run_summary(df, meta, gen)
    parts += ["<h3>Configuration</h3>",
              f"<pre>{_e(json.dumps(meta.get('config', {}), indent=2, sort_keys=True))}</pre>"]
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>genaug report</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>")
    write_text(out, page)
