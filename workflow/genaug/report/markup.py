"""The report's HTML pieces, shared by its sections (html.py, fewshot.py): escaping, numbers, intervals,
tables and inlined figures. Cells passed to `html_table` are already escaped."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from ..stats import shown_gain_interval
from . import figures

NO_INTERVAL = "n/a (1 seed, or no spread)"


def esc(value) -> str:
    return html.escape(str(value))


def fmt_num(v, fmt=".4f") -> str:
    return "–" if v is None or pd.isna(v) else format(v, fmt)


def diff_interval(lo, hi, why: str = NO_INTERVAL) -> str:
    """A difference of accuracies' interval, signed and clipped (stats.shown_gain_interval); `why` where there is
    none."""
    if pd.isna(lo):
        return why
    lo, hi = shown_gain_interval(lo, hi)
    return f"[{lo:+.3f}, {hi:+.3f}]"


def acc_interval(lo, hi) -> str:
    """An accuracy's interval: unsigned and clipped to [0, 1], as the figures draw it (with 2 seeds a
    t-interval easily runs past 1)."""
    return NO_INTERVAL if pd.isna(lo) else f"[{max(lo, 0.0):.3f}, {min(hi, 1.0):.3f}]"


def html_table(head: list[str], rows: list[list[str]], left: int = 0) -> str:
    """An HTML table; the first `left` columns are left-aligned text (cells are already escaped)."""
    th = "".join(f"<th{' class=l' if i < left else ''}>{h}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{' class=l' if i < left else ''}>{c}</td>" for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def png_img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def fig_img(fig, alt: str) -> str:
    """A matplotlib figure, inlined (and closed)."""
    return png_img(figures.png_bytes(fig), alt)


def figure(png: bytes, caption: str) -> str:
    """A captioned PNG for a row of images (`<div class=grids>`)."""
    return f"<figure>{png_img(png, caption)}<figcaption>{esc(caption)}</figcaption></figure>"


def gallery(heading: str, pngs: list, depth: int) -> list[str]:
    """A heading and the PNG files side by side, each captioned by the last `depth` parts of its path."""
    parts = [f"{heading}<div class=grids>"]
    for path in sorted(map(Path, pngs)):
        parts.append(figure(path.read_bytes(), " / ".join(path.with_suffix("").parts[-depth:])))
    return [*parts, "</div>"]
