"""Figures for the report and the per-cell sample grids (matplotlib Agg backend, seaborn styling)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..io import atomic_path  # noqa: E402
from ..stats import t_interval  # noqa: E402

UNITS = {"n": "real training images", "f": "% of the train pool", "k": "real images per class"}


def save_png(fig, path) -> None:
    """Write a figure atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def sample_grid(images: np.ndarray, labels: np.ndarray, classes: list[str], per_class: int = 10, title: str = ""):
    """One row per class with up to `per_class` of its images (uint8, N x C x H x W)."""
    c, h, w = images.shape[1:]
    rows = []
    for k in range(len(classes)):
        tiles = images[labels == k][:per_class]
        row = np.zeros((c, h, w * per_class), dtype=np.uint8)
        for j, tile in enumerate(tiles):
            row[:, :, j * w : (j + 1) * w] = tile
        rows.append(row)
    grid = np.concatenate(rows, axis=1).transpose(1, 2, 0)
    fig, ax = plt.subplots(figsize=(per_class * 0.55 + 1.6, len(classes) * 0.55 + 0.4))
    ax.imshow(grid.squeeze(-1) if c == 1 else grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([(k + 0.5) * h for k in range(len(classes))], classes, fontsize=8)
    ax.set_xticks([])
    for k in range(len(classes)):
        n = int((labels == k).sum())
        ax.text(per_class * w + 2, (k + 0.5) * h, f"n={n}", va="center", fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig


def _errorbar(values):
    lo, hi = t_interval(values)
    m = float(np.mean(values))
    return (m, m) if np.isnan(lo) else (lo, hi)


def accuracy_vs_size(df: pd.DataFrame, value: str = "accuracy"):
    """Test accuracy against subset size, one panel per regime and one line per model (mean, 95 % t-interval)."""
    sns.set_theme(style="whitegrid", context="notebook")
    regimes = list(dict.fromkeys(df["regime"]))
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.6 * len(regimes), 3.8), squeeze=False)
    models = list(dict.fromkeys(df["model"]))
    palette = dict(zip(models, sns.color_palette("tab10", len(models))))
    for ax, regime in zip(axes[0], regimes):
        sub = df[df["regime"] == regime]
        sns.lineplot(
            data=sub, x="size_value", y=value, hue="model", hue_order=models, palette=palette,
            estimator="mean", errorbar=_errorbar, err_style="bars", marker="o", ax=ax, legend=ax is axes[0][-1],
        )
        ax.set_title(regime)
        ax.set_xlabel(UNITS[sub["size"].iloc[0][0]])
        ax.set_ylabel(f"test {value}")
        ax.set_xticks(sorted(sub["size_value"].unique()))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title="model")
    fig.tight_layout()
    return fig


def gain_plot(gains: pd.DataFrame):
    """Paired gain over baseline per cell: mean over seeds and 95 % t-interval."""
    sns.set_theme(style="whitegrid", context="notebook")
    g = gains.copy()
    g["cell"] = g["regime"] + " " + g["size"]
    cells = list(dict.fromkeys(g["cell"]))
    models = list(dict.fromkeys(g["model"]))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(cells) + 2), 3.8))
    width = 0.8 / max(len(models), 1)
    colors = sns.color_palette("tab10", len(models) + 1)[1:]
    for i, model in enumerate(models):
        sub = g[g["model"] == model].set_index("cell").reindex(cells)
        x = np.arange(len(cells)) + (i - (len(models) - 1) / 2) * width
        err = np.vstack([sub["gain"] - sub["gain_ci_low"], sub["gain_ci_high"] - sub["gain"]])
        ax.errorbar(x, sub["gain"], yerr=np.nan_to_num(err), fmt="o", color=colors[i], label=model, capsize=3)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(cells)), cells, rotation=30, ha="right")
    ax.set_ylabel("accuracy gain over baseline")
    ax.legend(title="model", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig
