"""Embedding probes of a classifier cell (the `probe` and `tsne` stages): how its penultimate
embeddings of the real test split, and of its synthetic images, are arranged.

- probe accuracy with cross-validation: CART (000), linear (logistic regression) and k-NN;
- separability: silhouette score, and the TwoNN intrinsic dimension (000's future-work probes);
- 000's three archetypes, detected from numbers: `twin` clusters (a class's synthetic embeddings form
  a cluster of their own, apart from the real ones, yet nearest to their class), `overlap` (the
  shirt / pullover / coat group confused with each other), else `separated`;
- t-SNE (scikit-learn) for the figures.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import streams
from .aggregate import IDS
from .errors import GenaugError
from .io import atomic_path, read_json, save_npz, write_json
from .config import class_index, config_default
from .subsets import apportion

TWIN_SEPARABILITY = 0.9  # real vs synthetic of one class told apart this well by 5-NN: separate clusters
TWIN_CONSISTENCY = 0.5  # ... while at least this share of the synthetic points is nearest its own class
OVERLAP_CONFUSION = 0.25  # share of the group's test images predicted as another class of the group


def two_nn_dimension(x: np.ndarray) -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017): the maximum-likelihood d from the ratios
    mu = r2 / r1 of each point's second to first nearest-neighbour distance (duplicates dropped)."""
    from sklearn.neighbors import NearestNeighbors

    x = np.unique(np.asarray(x, dtype=np.float64), axis=0)
    if len(x) < 3:
        return float("nan")
    dist, _ = NearestNeighbors(n_neighbors=3).fit(x).kneighbors(x)
    mu = dist[:, 2] / np.maximum(dist[:, 1], 1e-12)
    mu = mu[np.isfinite(mu) & (mu > 1)]
    return float(len(mu) / np.log(mu).sum()) if len(mu) else float("nan")


def probe_accuracies(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> dict:
    """Cross-validated accuracy of CART, a linear probe and 5-NN on embeddings x with labels y."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    folds = min(folds, int(np.bincount(y).min()))
    if folds < 2:
        raise GenaugError("probes need at least 2 embeddings of every class")
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    probes = {
        "cart": DecisionTreeClassifier(random_state=seed),
        "linear": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        "knn": make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
    }
    return {name: float(cross_val_score(est, x, y, cv=cv).mean()) for name, est in probes.items()}


def twin_clusters(real: np.ndarray, real_y: np.ndarray, fake: np.ndarray, fake_y: np.ndarray,
                  num_classes: int, seed: int = 0, min_points: int = 10) -> dict:
    """Per class: how well 5-NN tells the class's synthetic embeddings from its real ones (balanced,
    cross-validated; 0.5 = mixed together), and the share of its synthetic points whose nearest real
    class centre is their own. A class is a twin when both are high."""
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(seed)
    centres = np.stack([real[real_y == c].mean(0) if (real_y == c).any() else np.full(real.shape[1], np.inf)
                        for c in range(num_classes)])
    out = {}
    for c in range(num_classes):
        r, f = real[real_y == c], fake[fake_y == c]
        n = min(len(r), len(f))
        if n < min_points:
            continue
        r, f = r[rng.choice(len(r), n, replace=False)], f[rng.choice(len(f), n, replace=False)]
        x, y = np.concatenate([r, f]), np.r_[np.zeros(n), np.ones(n)]
        sep = float(cross_val_score(KNeighborsClassifier(5), x, y, cv=min(5, n)).mean())
        nearest = np.argmin(((f[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        consistency = float((nearest == c).mean())
        out[c] = {"separability": sep, "consistency": consistency,
                  "twin": sep >= TWIN_SEPARABILITY and consistency >= TWIN_CONSISTENCY}
    return out


def group_confusion(y_true: np.ndarray, y_pred: np.ndarray, group: list[int]) -> float:
    """Share of the group's test images predicted as another class of the group."""
    inside = np.isin(y_true, group)
    if not inside.any():
        return float("nan")
    t, p = y_true[inside], y_pred[inside]
    return float((np.isin(p, group) & (p != t)).mean())


def _resolve(classes: list[str], wanted) -> list[int]:
    """The indices of the `wanted` classes this dataset has (the default group names Fashion-MNIST's)."""
    out = []
    for w in wanted:
        try:
            out.append(class_index(w, classes, "probes.overlap_classes"))
        except GenaugError:
            continue
    return out


def _stratified(y: np.ndarray, n: int, rng) -> np.ndarray:
    """n indices (or all) with every class in proportion (subsets.apportion), at least 2 per class (for
    cross-validation), each class's share a seeded random draw."""
    if len(y) <= n:
        return np.arange(len(y))
    classes, sizes = np.unique(y, return_counts=True)
    quota = np.minimum(np.maximum(apportion(sizes, n, np.arange(len(sizes))), 2), sizes)
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota)]))


def _load(embeddings):
    with np.load(embeddings) as z:
        return ({k: z[k] for k in z.files})


def probe(*, embeddings, metrics, out, max_points: int = config_default("probes.max_points"),
          folds: int = config_default("probes.cv_folds"), overlap_classes=config_default("probes.overlap_classes"),
          seed: int = 0, log=sys.stderr) -> dict:
    """Probe one cell's embeddings; write probe.json with the cell's identifiers and test accuracy."""
    t0 = time.perf_counter()
    m = read_json(metrics)
    ids = {k: m.get(k) for k in IDS}
    if m.get("status") == "diverged":
        write_json(out, {**ids, "status": "diverged", "reason": m.get("reason")})
        return {}
    classes = list(m["per_class"])
    z = _load(embeddings)
    x, y, pred = z["embeddings"].astype(np.float32), z["labels"].astype(int), z["predictions"].astype(int)
    sx, sy = z["synthetic_embeddings"].astype(np.float32), z["synthetic_labels"].astype(int)
    rng, stream_seed = streams.rng("probes", seed), streams.sklearn_seed("probes", seed)
    pick = _stratified(y, max_points, rng)
    from sklearn.metrics import silhouette_score

    result = {**ids, "status": "ok", "accuracy": m["accuracy"], "n_points": len(pick),
              **{f"probe_{k}": v for k, v in probe_accuracies(x[pick], y[pick], folds, stream_seed).items()},
              "silhouette": float(silhouette_score(x[pick], y[pick])),
              "intrinsic_dim": two_nn_dimension(x[pick])}
    group = _resolve(classes, overlap_classes)
    result["overlap_classes"] = [classes[c] for c in group]
    result["overlap_confusion"] = group_confusion(y, pred, group) if len(group) >= 2 else None
    twins = {}
    if len(sx):
        spick = _stratified(sy, max_points, rng)
        twins = twin_clusters(x[pick], y[pick], sx[spick], sy[spick], len(classes), stream_seed)
    result["twin_classes"] = [classes[c] for c, t in twins.items() if t["twin"]]
    result["twin_share"] = (sum(t["twin"] for t in twins.values()) / len(twins)) if twins else None
    result["per_class"] = {classes[c]: t for c, t in twins.items()}
    if twins and result["twin_share"] >= 0.5:
        archetype = "twin"
    elif result["overlap_confusion"] is not None and result["overlap_confusion"] >= OVERLAP_CONFUSION:
        archetype = "overlap"
    else:
        archetype = "separated"
    result["archetype"] = archetype
    result["seconds"] = time.perf_counter() - t0
    write_json(out, result)
    print(f"probe: CART {result['probe_cart']:.3f}, linear {result['probe_linear']:.3f}, "
          f"kNN {result['probe_knn']:.3f}, "
          f"silhouette {result['silhouette']:.3f}, intrinsic dim {result['intrinsic_dim']:.1f}, archetype {archetype} "
          f"({result['seconds']:.0f}s)", file=log)
    return result


def tsne(*, embeddings, metrics, out_npz, out_png, points: int = config_default("probes.tsne_points"), seed: int = 0,
         log=sys.stderr) -> None:
    """A 2-D t-SNE of a cell's test embeddings (2/3 of the points) and synthetic ones (1/3), and its figure."""
    from sklearn.manifold import TSNE

    from .report.figures import png_bytes, tsne_figure

    m = read_json(metrics)
    z = _load(embeddings)
    rng = streams.rng("tsne", seed)
    x, y = z["embeddings"].astype(np.float32), z["labels"].astype(int)
    sx, sy = z["synthetic_embeddings"].astype(np.float32), z["synthetic_labels"].astype(int)
    if m.get("status") == "diverged" or len(x) == 0:
        coords, labels, synthetic = np.zeros((0, 2)), np.zeros(0, int), np.zeros(0, bool)
    else:
        n_fake = min(len(sx), points // 3)
        real = _stratified(y, points - n_fake, rng)
        fake = _stratified(sy, n_fake, rng) if n_fake else np.zeros(0, int)
        data = np.concatenate([x[real], sx[fake]])
        t0 = time.perf_counter()
        tsne = TSNE(2, init="pca", perplexity=min(30, (len(data) - 1) / 3),
                    random_state=streams.sklearn_seed("tsne", seed))
        coords = tsne.fit_transform(data)
        labels, synthetic = np.r_[y[real], sy[fake]], np.r_[np.zeros(len(real), bool), np.ones(len(fake), bool)]
        print(f"t-SNE of {len(real)} test + {len(fake)} synthetic embeddings ({time.perf_counter() - t0:.0f}s)",
              file=log)
    classes = list(m.get("per_class") or [])
    title = f"{m['classifier']} {m.get('train_set', '')} {m['model']} {m['regime']} {m['size']} s{m['seed']}"
    save_npz(out_npz, coords=coords.astype(np.float32), labels=labels, synthetic=synthetic,
             classes=np.array(classes), title=np.array(title))
    with atomic_path(out_png) as tmp:
        with open(tmp, "wb") as f:
            f.write(png_bytes(tsne_figure(coords, labels, synthetic, classes, title)))
