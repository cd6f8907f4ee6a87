"""Figures for the report and the per-cell sample grids (matplotlib Agg backend, seaborn styling)."""

from __future__ import annotations

import io

import numpy as np

from ..io import atomic_path

# matplotlib and seaborn load lazily: the sample stage draws its grid with PIL alone.

UNITS = {"n": "real training images", "f": "% of the train pool", "k": "real images per class"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Text as written: a class named "$5 bill" or "note $10-$20" is not TeX (and "$\frac$" stopped the report).
    matplotlib.rcParams["text.parse_math"] = False
    return plt


def png_bytes(fig) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


GRID_ROWS = 40  # classes a sample grid stacks before it wraps into another block


def sample_grid(images: np.ndarray, labels: np.ndarray, classes: list[str], path, per_class: int = 10,
                title: str = "", scale: int | None = None) -> None:
    """Write a PNG with one row per class holding up to `per_class` of its images (uint8, N x C x H x W).

    Past `GRID_ROWS` classes the rows wrap into side-by-side blocks, so 200 classes make a wide page rather than
    one 11,000 px tall. Tiles are scaled to about 56 px (2x for 28 px images) unless `scale` is given. Drawn with
    PIL rather than matplotlib: the sample stage then needs no plotting stack.
    """
    from PIL import Image, ImageDraw

    c, h, w = images.shape[1:]
    scale = scale or max(1, round(56 / h))
    label_w, head_h, count_w = 110, 18 if title else 0, 50
    tile_h, tile_w = h * scale, w * scale
    blocks = -(-len(classes) // GRID_ROWS)
    rows = -(-len(classes) // blocks)
    block_w = label_w + per_class * tile_w + count_w
    canvas = Image.new("RGB", (blocks * block_w, head_h + rows * tile_h), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 3), title, fill="black")
    for k, name in enumerate(classes):
        tiles = images[labels == k][:per_class]
        left, top = (k // rows) * block_w, head_h + (k % rows) * tile_h
        draw.rectangle([left + label_w, top, left + label_w + per_class * tile_w - 1, top + tile_h - 1], fill="black")
        for j, tile in enumerate(tiles):
            arr = tile[0] if c == 1 else tile.transpose(1, 2, 0)
            im = Image.fromarray(arr).convert("RGB").resize((tile_w, tile_h), Image.NEAREST)
            canvas.paste(im, (left + label_w + j * tile_w, top))
        draw.text((left + 4, top + tile_h // 2 - 6), name[:16], fill="black")
        draw.text((left + label_w + per_class * tile_w + 4, top + tile_h // 2 - 6), f"n={int((labels == k).sum())}",
                  fill="black")
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")


def _errorbar(values):
    """95 % t-interval of the mean, clipped to [0, 1] since accuracies are bounded (a point with one seed)."""
    from ..stats import t_interval

    lo, hi = t_interval(values)
    m = float(np.mean(values))
    return (m, m) if np.isnan(lo) else (max(lo, 0.0), min(hi, 1.0))


def distinct_colours(n: int) -> list:
    """n colours no two of which repeat: tab10 up to 10, tab20 up to 20, then evenly spaced hues (HUSL)."""
    import seaborn as sns

    return sns.color_palette("tab10" if n <= 10 else "tab20" if n <= 20 else "husl", n)


def _legend_columns(n: int) -> int:
    return 1 if n <= 15 else 2 if n <= 40 else 3


def accuracy_vs_size(df, value: str = "accuracy"):
    """Test accuracy against subset size, one panel per regime and one line per model (mean, 95 % t-interval)."""
    import seaborn as sns

    plt = _pyplot()
    sns.set_theme(style="whitegrid", context="notebook")
    regimes = list(dict.fromkeys(df["regime"]))
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.6 * len(regimes), 3.8), squeeze=False)
    models = list(dict.fromkeys(df["model"]))
    palette = dict(zip(models, distinct_colours(len(models))))
    for ax, regime in zip(axes[0], regimes):
        sub = df[df["regime"] == regime]
        # Sizes as evenly spaced categories, models dodged so that their intervals do not hide each other
        # (seaborn divides by zero dodging a single model).
        sns.pointplot(
            data=sub, x="size_value", y=value, hue="model", hue_order=models, palette=palette,
            estimator="mean", errorbar=_errorbar, dodge=0.4 if len(models) > 1 else False, capsize=0.08,
            markersize=5, linewidth=1.5,
            ax=ax, legend=ax is axes[0][-1],
        )
        ax.set_title(regime)
        ax.set_xlabel(UNITS[sub["size"].iloc[0][0]])
        ax.set_ylabel(f"test {value}")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title="model")
    fig.tight_layout()
    return fig


def tsne_figure(coords, labels, synthetic, classes, title: str = "", ax=None):
    """t-SNE scatter of one cell: colour = class, dots = real test images, crosses = synthetic images."""
    import seaborn as sns

    plt = _pyplot()
    sns.set_theme(style="white", context="notebook")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5.2, 4.6))
    colors = distinct_colours(len(classes))
    for k, name in enumerate(classes):
        for fake, marker, size in ((False, "o", 6), (True, "x", 10)):
            sel = (labels == k) & (synthetic == fake)
            if sel.any():
                ax.scatter(coords[sel, 0], coords[sel, 1], s=size, marker=marker, color=colors[k],
                           linewidths=0.6, alpha=0.7, label=name if not fake else None)
    if len(coords) == 0:
        ax.text(0.5, 0.5, "no embeddings (diverged)", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
    if own:
        ax.legend(fontsize=7, markerscale=2, bbox_to_anchor=(1.01, 1), loc="upper left",
                  title="class (x: synthetic)", title_fontsize=7, ncol=_legend_columns(len(classes)))
        fig.tight_layout()
        return fig
    return ax


def gain_heatmap(gains, title: str = ""):
    """Paired gain over baseline, model x size, one panel per regime; '*' marks a Holm-corrected real gain."""
    import seaborn as sns

    plt = _pyplot()
    sns.set_theme(style="white", context="notebook")
    regimes = list(dict.fromkeys(gains["regime"]))
    rows = list(dict.fromkeys(gains["arm"]))
    lim = max(float(np.nanmax(np.abs(gains["gain"]))) if len(gains) else 0.01, 0.005)
    fig, axes = plt.subplots(1, len(regimes), figsize=(1.2 + 1.3 * len(regimes) * max(2, gains["size"].nunique()),
                                                       1.2 + 0.5 * len(rows)), squeeze=False)
    for ax, regime in zip(axes[0], regimes):
        sub = gains[gains["regime"] == regime].sort_values("size_value")
        sizes = list(dict.fromkeys(sub["size"]))
        value = sub.pivot_table(index="arm", columns="size", values="gain", sort=False).reindex(index=rows,
                                                                                               columns=sizes)
        real = sub.pivot_table(index="arm", columns="size", values="real", aggfunc="max", sort=False)
        real = real.reindex(index=rows, columns=sizes).fillna(0).astype(bool)
        labels = np.where(value.isna(), "", value.map(lambda v: f"{v:+.3f}") + np.where(real, "*", ""))
        sns.heatmap(value, ax=ax, cmap="RdBu", vmin=-lim, vmax=lim, annot=labels, fmt="", cbar=ax is axes[0][-1],
                    annot_kws={"fontsize": 8}, linewidths=0.5, cbar_kws={"label": "gain over baseline"})
        ax.set_title(regime)
        ax.set_xlabel("size")
        ax.set_ylabel("" if ax is not axes[0][0] else "model (training set)")
        if ax is axes[0][0]:
            ax.set_yticks(ax.get_yticks(), ax.get_yticklabels(), rotation=0)
        else:
            ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def scatter_panels(df, x_cols: list, y: str, hue: str, titles: dict | None = None, headers: dict | None = None):
    """One scatter per x column against y; each panel's header is `headers[col]`, else Spearman's rank
    correlation of all its points (and its p)."""
    import seaborn as sns
    from scipy.stats import spearmanr

    plt = _pyplot()
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, len(x_cols), figsize=(3.6 * len(x_cols), 3.4), squeeze=False)
    for ax, col in zip(axes[0], x_cols):
        sub = df[[col, y, hue]].dropna()
        sns.scatterplot(data=sub, x=col, y=y, hue=hue, ax=ax, s=25, legend=ax is axes[0][-1])
        if headers and col in headers:
            ax.set_title(headers[col], fontsize=9)
        elif len(sub) >= 3 and sub[col].nunique() > 1 and sub[y].nunique() > 1:
            rho, p = spearmanr(sub[col], sub[y])
            ax.set_title(f"Spearman rho {rho:+.2f} (p {p:.2g}, n {len(sub)})", fontsize=9)
        else:
            ax.set_title(f"too few points (n {len(sub)})", fontsize=9)
        ax.set_xlabel((titles or {}).get(col, col))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=7)
    fig.tight_layout()
    return fig


def learning_curves(frame, y: str, panel: str, hue: str, ylabel: str):
    """Line panels of `y` against `step`, one panel per value of `panel`, one line per value of `hue`."""
    import seaborn as sns

    plt = _pyplot()
    sns.set_theme(style="whitegrid", context="notebook")
    panels = list(dict.fromkeys(frame[panel]))
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, panels):
        sub = frame[frame[panel] == name]
        sns.lineplot(data=sub, x="step", y=y, hue=hue, ax=ax, legend=True, linewidth=1.2)
        ax.set_title(str(name), fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        if ax.get_legend() is not None:
            ax.legend(fontsize=7, title=None)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def class_heatmap(table, title: str, cmap: str = "viridis", ratio: bool = False):
    """Rows x classes heatmap of a score in [0, 1] (per-class precision or recall), or with `ratio` of a
    multiple of a floor (per-class FD over the real floor's), on a log scale from 1. Over 12 classes, classes
    are the rows."""
    import seaborn as sns
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FuncFormatter

    plt = _pyplot()
    sns.set_theme(style="white", context="notebook")
    if table.shape[1] > 12:  # many classes: one row each, so the figure stays as wide as a page
        table = table.T
    longest = lambda labels: max(map(len, map(str, labels)), default=0)  # noqa: E731  (tick labels take room)
    # About 0.1 in a character of an 11 pt tick label: rows' labels narrower than that squeezed the cells and ran
    # the class names together under them.
    fig, ax = plt.subplots(figsize=(1.2 + 0.75 * table.shape[1] + 0.1 * longest(table.index),
                                    0.9 + 0.4 * table.shape[0] + 0.1 * longest(table.columns)))
    # A log colour bar's ticks are labelled "1", "10", "100": its default labels are TeX, which parse_math (off,
    # for class names with "$") would print as "$\mathdefault{10^{1}}$".
    scale = ({"norm": LogNorm(vmin=1, vmax=max(10.0, float(np.nanmax(table.to_numpy())))), "fmt": ".1f",
              "cbar_kws": {"format": FuncFormatter(lambda v, _: f"{v:g}")}} if ratio
             else {"vmin": 0, "vmax": 1, "fmt": ".2f"})
    sns.heatmap(table, ax=ax, cmap=cmap, annot=True, annot_kws={"fontsize": 7}, linewidths=0.5, **scale)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("")
    ax.set_ylabel("")
    fig.tight_layout()
    return fig


def tsne_grid(panels: list):
    """Several t-SNE panels side by side: panels are (coords, labels, synthetic, classes, title)."""
    plt = _pyplot()
    cols = min(4, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        tsne_figure(*panel, ax=ax)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    # As many columns as the figure's width holds at 7 pt (about 0.05 in a character, 0.4 in for the marker);
    # the figure grows by the legend's rows, so many classes never cover the panels.
    ncol = max(1, min(len(names), int(fig.get_figwidth() / (0.4 + 0.05 * max(map(len, names), default=1)))))
    legend_height = 0.15 + 0.19 * -(-len(names) // ncol) if handles else 0.0
    if handles:
        fig.legend(handles, names, loc="lower center", ncol=ncol, fontsize=7, markerscale=2)
    fig.set_figheight(fig.get_figheight() + legend_height)
    fig.tight_layout(rect=(0, legend_height / fig.get_figheight(), 1, 1))
    return fig


def sphere_panels(panels: list, path, title: str = "",
                  empty: str = "no class has a sphere (each needs 2+ real images)") -> None:
    """003's Figure 21 per class: real codes, kept and dropped synthetic codes in the sphere's 2-D
    projection, and the sphere (a circle of its radius). Written as a PNG at `path`; without panels
    it says why (`empty`), so the rule's output always exists."""
    import seaborn as sns

    plt = _pyplot()
    sns.set_theme(style="white", context="notebook")
    cols = min(5, max(1, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.8 * rows + 0.4), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(0.5, 0.5, empty, ha="center", va="center",
                        transform=axes[0, 0].transAxes, fontsize=8)
    for ax, p in zip(axes.flat, panels):
        kept = np.asarray(p["kept"], dtype=bool)
        s = p["synthetic"]
        ax.scatter(s[~kept, 0], s[~kept, 1], s=6, marker="x", color="tab:red", alpha=0.6, linewidths=0.6,
                   label="dropped")
        ax.scatter(s[kept, 0], s[kept, 1], s=6, marker="x", color="tab:green", alpha=0.6, linewidths=0.6,
                   label="kept")
        ax.scatter(p["real"][:, 0], p["real"][:, 1], s=14, color="black", label="real")
        ax.add_patch(plt.Circle((0, 0), p["radius"], fill=False, color="tab:red", linewidth=1.2))
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"{p['title']}: {int(kept.sum())}/{len(kept)} kept", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    if panels:
        axes.flat[0].legend(fontsize=6, loc="lower left", markerscale=1.5)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
