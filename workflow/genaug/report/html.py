"""The HTML report: one self-contained file (figures inlined as base64 PNG) that opens offline."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..io import write_text
from ..stats import paired_gain, summarize
from . import figures

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.pos{color:#0a7d27}.neg{color:#b3261e}.muted{color:#777}
.note{background:#fff8e1;border-left:4px solid #f2b600;padding:.6em 1em}img{max-width:100%}
.grids{display:flex;flex-wrap:wrap;gap:1em}.grids figure{margin:0}figcaption{font-size:.8em;color:#555}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt_ci(lo, hi) -> str:
    return "n/a (1 seed)" if np.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]"


def _gain_table(gains: pd.DataFrame) -> str:
    rows = []
    for r in gains.itertuples():
        significant = not np.isnan(r.gain_ci_low) and (r.gain_ci_low > 0 or r.gain_ci_high < 0)
        cls = ("pos" if r.gain > 0 else "neg") if significant else "muted"
        rows.append(
            f"<tr><td class=l>{html.escape(r.regime)}</td><td class=l>{r.size}</td><td class=l>{html.escape(r.classifier)}</td>"
            f"<td class=l>{html.escape(r.model)}</td><td>{r.baseline_mean:.4f}</td><td>{r.model_mean:.4f}</td>"
            f"<td class={cls}>{r.gain:+.4f}</td><td>{_fmt_ci(r.gain_ci_low, r.gain_ci_high)}</td>"
            f"<td>{r.wins}/{r.n_pairs}</td></tr>"
        )
    head = (
        "<tr><th class=l>regime</th><th class=l>size</th><th class=l>classifier</th><th class=l>model</th>"
        "<th>baseline acc</th><th>model acc</th><th>gain</th><th>95% CI of gain</th><th>seeds won</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _accuracy_table(acc: pd.DataFrame) -> str:
    rows = []
    for r in acc.itertuples():
        rows.append(
            f"<tr><td class=l>{html.escape(r.regime)}</td><td class=l>{r.size}</td><td class=l>{html.escape(r.classifier)}</td>"
            f"<td class=l>{html.escape(r.model)}</td><td>{r.mean:.4f}</td><td>{_fmt_ci(r.ci_low, r.ci_high)}</td><td>{r.n}</td></tr>"
        )
    head = (
        "<tr><th class=l>regime</th><th class=l>size</th><th class=l>classifier</th><th class=l>model</th>"
        "<th>mean test accuracy</th><th>95% CI</th><th>seeds</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _recall_table(df: pd.DataFrame) -> str:
    """Mean per-class test recall per regime and model, at each regime's largest size."""
    cols = [c for c in df.columns if c.startswith("recall:")]
    if not cols:
        return ""
    largest = df.groupby("regime")["size_value"].transform("max")
    sub = df[df["size_value"] == largest]
    table = sub.groupby(["regime", "size", "model"], sort=False)[cols].mean().reset_index()
    head = "<tr><th class=l>regime</th><th class=l>size</th><th class=l>model</th>" + "".join(
        f"<th>{html.escape(c.split(':', 1)[1])}</th>" for c in cols
    ) + "</tr>"
    rows = []
    for _, r in table.iterrows():
        cells = "".join(f"<td>{r[c]:.3f}</td>" for c in cols)
        rows.append(f"<tr><td class=l>{html.escape(r['regime'])}</td><td class=l>{r['size']}</td><td class=l>{html.escape(r['model'])}</td>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _diverged_note(diverged: pd.DataFrame) -> list[str]:
    """A visible list of the cells whose generator diverged: they have no score and are left out."""
    if diverged.empty:
        return []
    rows = "".join(
        f"<tr><td class=l>{html.escape(r.model)}</td><td class=l>{html.escape(r.regime)}</td><td class=l>{r.size}</td>"
        f"<td>{r.seed}</td><td class=l>{html.escape(str(r.reason))}</td></tr>"
        for r in diverged.itertuples()
    )
    return [
        "<h2>Diverged generators</h2>",
        f"<p class=note>{len(diverged)} classifier run(s) were not trained because their generator diverged "
        "(a non-finite loss, or samples that collapsed to near-identical images). They have no score and are left "
        "out of every table and figure below, so a model's mean there is over its remaining seeds only, "
        "which flatters it: count its seeds before trusting its rank.</p>",
        "<table><tr><th class=l>model</th><th class=l>regime</th><th class=l>size</th><th>seed</th>"
        f"<th class=l>reason</th></tr>{rows}</table>",
    ]


def build_report(summary_csv, sample_pngs: list, out, meta: dict | None = None) -> None:
    """Write report.html from summary.csv and the sample grid PNGs (paths .../{model}/{regime}/{size}/s{seed}.png)."""
    meta = meta or {}
    df = pd.read_csv(summary_csv, keep_default_na=False, na_values=[""])
    df = df.sort_values(["regime", "size_value", "model", "seed"], kind="stable")
    diverged = df[df["status"] == "diverged"] if "status" in df else df.iloc[:0]
    df = df.drop(diverged.index)  # no score exists for them; they are listed, not ranked
    order = ["regime", "size_value", "classifier", "model"]  # sizes numerically, not as strings
    acc = summarize(df).sort_values(order, kind="stable")
    gains = paired_gain(df)
    if not gains.empty:
        gains = gains.sort_values(order, kind="stable")
    parts = [
        f"<h1>genaug report: {html.escape(', '.join(df['dataset'].unique()))}</h1>",
        f"<p class=muted>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by genaug {__version__}. "
        f"{len(df)} classifier runs; seeds {sorted(df['seed'].unique().tolist())}; "
        f"effort <b>{html.escape(str(meta.get('effort', '?')))}</b>.</p>",
        "<p class=note>Accuracy is measured on the dataset's official test split, which no stage trains or selects on. "
        "Every arm (baseline, classic augmentation, each generator) is trained by the same rule: Adam, early stopping "
        "on a real validation split held out of every subset, and the same epoch cap. Intervals are 95% Student-t "
        "intervals over seeds; gains are paired on the seed (same subset, same classifier initialisation). "
        "With few seeds the intervals are wide: read them before the means.</p>",
        *_diverged_note(diverged),
        "<h2>Test accuracy vs. amount of real data</h2>",
        _img(figures.png_bytes(figures.accuracy_vs_size(df)), "accuracy vs size"),
    ]
    if not gains.empty:
        parts += [
            "<h2>Paired gain over the baseline</h2>",
            "<p>Green/red: the 95% interval excludes zero. Grey: no evidence of a difference.</p>",
            _img(figures.png_bytes(figures.gain_plot(gains)), "gain over baseline"),
            _gain_table(gains),
        ]
    parts += ["<h2>Accuracy per cell</h2>", _accuracy_table(acc)]
    recall = _recall_table(df)
    if recall:
        parts += ["<h2>Per-class test recall (largest size of each regime)</h2>", recall]
    if sample_pngs:
        parts.append("<h2>Synthetic samples</h2><div class=grids>")
        for path in sorted(map(Path, sample_pngs)):
            caption = " / ".join(path.with_suffix("").parts[-4:])
            parts.append(f"<figure>{_img(path.read_bytes(), caption)}<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</div>")
    parts += [
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(json.dumps(meta.get('config', {}), indent=2, sort_keys=True))}</pre>",
    ]
    page = f"<!doctype html><html><head><meta charset=utf-8><title>genaug report</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    write_text(out, page)
