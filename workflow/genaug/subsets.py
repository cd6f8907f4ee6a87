"""Data regimes: deterministic, nested subsets of the train pool.

For one seed every class's pool images are put in one random order, and a subset of any regime
and size takes a prefix of each class's order. Per-class counts come from a house-monotone
apportionment (Webster's divisor method), so a larger size never has fewer images of a class:
n1000 is therefore contained in n2000, and the regime's proportions hold at every size.
A fixed validation split is held out of the pool first, so it lies outside every subset.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from . import streams
from .config import class_index, config_default
from .errors import GenaugError, rebuild_hint
from .io import NPZ_ERRORS, save_npz

REGIMES = ("balanced", "semi_balanced", "imbalanced", "fraction", "shots")
# The size axis means images for count regimes, percent of the pool for `fraction`,
# images per class for `shots`; the prefix makes the unit visible in every path.
SIZE_PREFIX = {"balanced": "n", "semi_balanced": "n", "imbalanced": "n", "fraction": "f", "shots": "k"}
METRIC_MAX_PER_CLASS = 500  # gen_metrics.per_class auto: as many as the test split allows, at most this
METRIC_MIN_PER_CLASS = 2  # a draw of one image a class has no spread to score
FLOOR_MAX_DRAWS = 8  # real-vs-real draws averaged into the floor, where the test split holds them


@dataclass
class RegimeParams:
    """Shape parameters of the regimes (config.yaml's `regimes` section)."""

    minority_classes: list = field(default_factory=lambda: config_default("regimes.semi_balanced.minority_classes"))
    semi_ratio: float = config_default("regimes.semi_balanced.ratio")  # majority : minority in semi_balanced
    imbalance_ratio: float = config_default("regimes.imbalanced.ratio")  # largest : smallest class in imbalanced

    @classmethod
    def from_config(cls, regimes: dict | None) -> "RegimeParams":
        """A config's `regimes` section, the keys it leaves out taking the defaults above."""
        semi, imbalanced = (regimes or {}).get("semi_balanced") or {}, (regimes or {}).get("imbalanced") or {}
        given = {"minority_classes": semi.get("minority_classes"), "semi_ratio": semi.get("ratio"),
                 "imbalance_ratio": imbalanced.get("ratio")}
        return cls(**{k: v for k, v in given.items() if v is not None})


@dataclass
class Subset:
    """One cell's real training images: indices into the dataset's train split."""

    regime: str
    size: str
    seed: int
    indices: np.ndarray
    labels: np.ndarray
    counts: np.ndarray
    val_indices: np.ndarray
    classes: list[str]

    def save(self, path) -> None:
        save_npz(
            path,
            regime=np.array(self.regime),
            size=np.array(self.size),
            seed=np.array(self.seed),
            indices=self.indices,
            labels=self.labels,
            counts=self.counts,
            val_indices=self.val_indices,
            classes=np.array(self.classes),
        )

    @classmethod
    def load(cls, path) -> "Subset":
        try:
            with np.load(path) as z:
                return cls(
                    regime=str(z["regime"]),
                    size=str(z["size"]),
                    seed=int(z["seed"]),
                    indices=z["indices"],
                    labels=z["labels"],
                    counts=z["counts"],
                    val_indices=z["val_indices"],
                    classes=[str(c) for c in z["classes"]],
                )
        except NPZ_ERRORS as err:
            raise GenaugError(f"{path}: not a readable subset file ({err}); {rebuild_hint(path)}") from err


def parse_size(regime: str, token: str) -> int:
    """'n1000' -> 1000 after checking the prefix fits the regime."""
    if regime not in SIZE_PREFIX:
        raise GenaugError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")
    prefix = SIZE_PREFIX[regime]
    if not (token.startswith(prefix) and token[1:].isdigit()):
        raise GenaugError(f"size {token!r} does not fit regime {regime!r}: expected {prefix}<integer>, e.g. {prefix}10")
    return int(token[1:])


def validation_indices(labels: np.ndarray, per_class: int, num_classes: int, classes=None) -> np.ndarray:
    """A fixed, class-balanced validation split of the train split, the same for every seed and regime
    (`classes`: names for the error)."""
    rng = streams.rng("validation")
    out = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= per_class:
            raise GenaugError(
                f"class {classes[c] if classes else c!r} has {len(idx)} training images, too few to hold out "
                f"validation_per_class={per_class}; "
                "lower validation_per_class in config.yaml or your --configfile"
            )
        out.append(rng.choice(idx, size=per_class, replace=False))
    return np.sort(np.concatenate(out))


def scoring_indices(labels: np.ndarray, per_class: int | None, seed: int, num_classes: int,
                    classes=None) -> np.ndarray:
    """The test images every score is measured on: the whole test split (per_class None), or a
    fixed, class-balanced subset of `per_class` images per class (003's 100 per class), the same for
    every cell, seed and method."""
    if not per_class:
        return np.arange(len(labels))
    check_scoring_count(np.bincount(labels, minlength=num_classes), per_class, classes)
    rng = streams.rng("test_subset", seed)
    out = [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False) for c in range(num_classes)]
    return np.sort(np.concatenate(out))


def _smallest(counts, classes) -> tuple[int, object]:
    """The fewest images of a class in `counts` (class order), and that class's name (its index without names)."""
    n, c = min((int(n), c) for c, n in enumerate(counts))
    return n, classes[c] if classes else c


def check_scoring_count(counts, per_class: int | None, classes=None) -> None:
    """test.per_class against each class's test images (in class order): scoring_indices draws that many of
    each. The config check calls it before any job with the counts read from the dataset's files."""
    if not per_class:
        return
    n, name = _smallest(counts, classes)
    if n < per_class:
        raise GenaugError(f"test.per_class: {per_class}, but class {name!r} has only {n} test images; lower "
                          f"test.per_class to {n} or less, or set it to null for the whole split")


def metric_need(per_class) -> int:
    """The test images every class needs for the generative metrics at gen_metrics.per_class (`auto` at its least):
    two disjoint draws, the reference and a real-vs-real floor draw, of at least METRIC_MIN_PER_CLASS each."""
    return 2 * (METRIC_MIN_PER_CLASS if per_class == "auto" else max(METRIC_MIN_PER_CLASS, int(per_class)))


def metric_count(counts, per_class, classes=None) -> int:
    """The images per class every synthetic set is scored on (gen_metrics.per_class), from each class's test
    images (in class order): `auto` is as many as the test split's smallest class allows twice over (reference
    and floor), at most METRIC_MAX_PER_CLASS."""
    smallest, name = _smallest(counts, classes)
    if smallest < metric_need("auto"):
        raise GenaugError(f"gen_metrics: generative metrics need two disjoint real draws of at least "
                          f"{METRIC_MIN_PER_CLASS} images a class, but class {name!r} has {smallest} test images; "
                          "add test images, or set gen_metrics.enabled false")
    if per_class == "auto":
        return min(METRIC_MAX_PER_CLASS, smallest // 2)
    per_class = int(per_class)
    fix = f"use {METRIC_MIN_PER_CLASS}..{smallest // 2}, or auto"
    if per_class < METRIC_MIN_PER_CLASS:
        raise GenaugError(f"gen_metrics.per_class: {per_class} is below the least, {METRIC_MIN_PER_CLASS} (a set "
                          f"of one image a class has no spread); {fix}")
    if smallest < metric_need(per_class):
        raise GenaugError(f"gen_metrics.per_class: {per_class} needs {metric_need(per_class)} test images of every "
                          f"class (a reference and a real-vs-real floor draw), but class {name!r} has {smallest}; "
                          f"{fix}")
    return per_class


def metric_reference_indices(labels: np.ndarray, per_class: int,
                             num_classes: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Disjoint, class-balanced draws of `per_class` images per class from the test split: the real reference
    every synthetic set is scored against, and the floor draws, real sets scored the same way (what a perfect
    generator would get at that count). The floor is their mean: one draw's domain FD varies by about a third
    between draws at 100 images per class (docs/measured/2026-12-04-metric-noise.md), so there are as many as the
    smallest class holds beside the reference, at most FLOOR_MAX_DRAWS. The reference and the first floor draw
    are the ones a single-draw floor used. The test split is the only real data no subset, generator or
    reference network ever sees; no stage trains or selects on these draws."""
    rng, more = streams.rng("metric_reference"), streams.rng("metric_floor_draws")
    smallest = int(np.bincount(labels, minlength=num_classes).min())
    draws = max(1, min(FLOOR_MAX_DRAWS, smallest // per_class - 1))
    reference, floors = [], [[] for _ in range(draws)]
    for c in range(num_classes):
        of_class = np.flatnonzero(labels == c)
        pick = rng.choice(of_class, size=2 * per_class, replace=False)
        reference.append(pick[:per_class])
        floors[0].append(pick[per_class:])
        rest = more.permutation(np.setdiff1d(of_class, pick))
        for k in range(1, draws):
            floors[k].append(rest[(k - 1) * per_class:k * per_class])
    return np.sort(np.concatenate(reference)), [np.sort(np.concatenate(f)) for f in floors]


def class_pools(labels: np.ndarray, val_idx: np.ndarray, seed: int, num_classes: int) -> list[np.ndarray]:
    """Per class, the pool (train minus validation) in the seed's random order."""
    pool = np.ones(len(labels), dtype=bool)
    pool[val_idx] = False
    pools = []
    for c in range(num_classes):
        idx = np.flatnonzero(pool & (labels == c))
        rng = streams.rng("subset.pool", seed, c)
        pools.append(idx[rng.permutation(len(idx))])
    return pools


def _seats(weights: np.ndarray, tie_order: np.ndarray):
    """The class of each seat in turn under Webster/Sainte-Lague: a class's next seat is worth w / (2 * seats + 1).
    Ties go by `tie_order`."""
    weights = np.asarray(weights, dtype=float)
    counts = np.zeros(len(weights), dtype=np.int64)
    rank = np.empty(len(weights), dtype=np.int64)
    rank[tie_order] = np.arange(len(weights))
    heap = [(-w, rank[c], c) for c, w in enumerate(weights) if w > 0]
    heapq.heapify(heap)
    while heap:
        _, r, c = heapq.heappop(heap)
        counts[c] += 1
        yield c
        heapq.heappush(heap, (-weights[c] / (2 * counts[c] + 1), r, c))


def tie_break_order(seed: int, k: int) -> np.ndarray:
    """The order in which rounding ties between the k classes' counts are broken, drawn by the seed."""
    return streams.rng("subset.ties", seed).permutation(k)


def apportion(weights: np.ndarray, total: int, tie_order: np.ndarray) -> np.ndarray:
    """Split `total` into integer counts proportional to `weights` (Webster/Sainte-Lague).

    Seats are handed out one at a time, so counts for total t are a prefix of those for t + 1:
    the allocation is monotone in the total, which nested subsets need. Ties go by `tie_order`.
    """
    counts = np.zeros(len(weights), dtype=np.int64)
    for _, c in zip(range(int(total)), _seats(weights, tie_order)):
        counts[c] += 1
    return counts


def size_bounds(weights: np.ndarray, seed: int, upto: int, pools=None) -> tuple[int | None, int | None]:
    """For a regime's class weights and a seed: the smallest size that gives every class an image, and, given each
    class's pool size, the largest size whose counts fit the pools, or None where sizes up to `upto` all fit. Each
    holds for every size beyond it, as the apportionment is monotone in the size. What the config check holds
    grid.sizes against (and, with the pools as weights, grid.fractions)."""
    k = len(weights)
    counts, size, smallest, empty = np.zeros(k, dtype=np.int64), 0, None, k
    for c in _seats(weights, tie_break_order(seed, k)):
        if pools is not None and counts[c] >= pools[c]:
            return smallest, size
        if smallest is not None and (pools is None or size >= upto):
            return smallest, None
        size, counts[c], empty = size + 1, counts[c] + 1, empty - (counts[c] == 0)
        if not empty and smallest is None:
            smallest = size
    return smallest, None


def regime_weights(regime: str, classes: list[str], seed: int, params: RegimeParams) -> np.ndarray:
    """Relative class frequencies that a count regime keeps at every size."""
    k = len(classes)
    if regime == "balanced":
        return np.ones(k)
    if regime == "semi_balanced":
        w = np.full(k, float(params.semi_ratio))
        w[[class_index(c, classes, "regimes.semi_balanced.minority_classes") for c in params.minority_classes]] = 1.0
        return w
    if regime == "imbalanced":
        # Long-tailed: geometric decay from 1 to 1/ratio along a class order drawn by the seed.
        order = streams.rng("subset.order", seed).permutation(k)
        w = np.empty(k)
        w[order] = float(params.imbalance_ratio) ** (-np.arange(k) / max(k - 1, 1))
        return w
    raise GenaugError(f"regime {regime!r} has no class weights")


def regime_counts(regime: str, size: int, pool_sizes, classes: list[str], seed: int, params: RegimeParams):
    """Images per class for one regime and size (`fraction` needs each class's pool size; the others do not)."""
    k = len(classes)
    if regime == "shots":
        return np.full(k, size, dtype=np.int64)
    if regime == "fraction":
        if not 0 < size <= 100:
            raise GenaugError(f"regime 'fraction': size f{size} must be a percentage in 1..100")
        return apportion(pool_sizes, round(size / 100 * sum(pool_sizes)), tie_break_order(seed, k))
    return apportion(regime_weights(regime, classes, seed, params), size, tie_break_order(seed, k))


def draw_subset(
    labels: np.ndarray,
    classes: list[str],
    regime: str,
    size: str,
    seed: int,
    *,
    validation_per_class: int,
    params: RegimeParams | None = None,
) -> Subset:
    """The subset for (regime, size, seed): deterministic, nested across sizes, disjoint from validation."""
    params = params or RegimeParams()
    labels = np.asarray(labels)
    value = parse_size(regime, size)
    if value < 1:
        raise GenaugError(f"size {size!r} must be positive")
    k = len(classes)
    val_idx = validation_indices(labels, validation_per_class, k, classes)
    pools = class_pools(labels, val_idx, seed, k)
    counts = regime_counts(regime, value, [len(p) for p in pools], classes, seed, params)
    for c in range(k):
        if counts[c] > len(pools[c]):
            raise GenaugError(
                f"regime {regime!r} at size {size} needs {counts[c]} images of class {classes[c]!r}, but its train "
                f"pool has only {len(pools[c])} (after {validation_per_class} held out for validation); "
                "use a smaller size in grid.sizes (config.yaml or your --configfile)"
            )
    if (counts == 0).any():  # nothing to learn it from: a classifier never predicts it, a generator draws noise for it
        empty = [classes[c] for c in np.flatnonzero(counts == 0)]
        named = ", ".join(repr(c) for c in empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        axis = {"fraction": "grid.fractions"}.get(regime, "grid.sizes")
        raise GenaugError(f"regime {regime!r} at size {size} leaves {len(empty)} of the {k} classes with no image "
                          f"({named}); use a larger size in {axis}")
    indices = np.concatenate([pools[c][: counts[c]] for c in range(k)])
    return Subset(
        regime=regime,
        size=size,
        seed=seed,
        indices=indices,
        labels=labels[indices],
        counts=counts,
        val_indices=val_idx,
        classes=list(classes),
    )
