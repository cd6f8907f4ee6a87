"""How many synthetic images each class gets, and how they get their labels.

Count policies (config `synthesis.policy`):
  match      as many per class as the real subset has (000): copies the subset's imbalance.
  balance    top every class up to the largest real class (002): turns an imbalanced subset balanced.
  per_class  a fixed number per class (003).
  ratio      `ratio` times the real count per class.
Label strategies:
  per_class    one model per class, sampled from its prior: the label is the model's class.
  conditional  the model is asked for a class directly.
  reconstruct  a real image of the class is encoded and decoded; the copy keeps its label (000).
  pseudo_label one model on all classes samples freely; a classifier trained on the real subset
               labels each image, and images it is less than `threshold` sure of are dropped.
               Sampling goes on until every class has its count or `max_draws` images were drawn.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import GenaugError

POLICIES = ("match", "balance", "per_class", "ratio")


def synthetic_counts(real_counts, policy: str, *, per_class: int | None = None, ratio: float | None = None
                     ) -> np.ndarray:
    """Synthetic images to make for each class under a count policy (per_class and ratio: the policies' sizes,
    given where the policy uses them)."""
    real = np.asarray(real_counts, dtype=np.int64)
    needed = {"per_class": per_class, "ratio": ratio}.get(policy, 0)
    if needed is None:
        raise GenaugError(f"synthesis.policy {policy}: needs synthesis.{policy} (--{policy.replace('_', '-')})")
    if policy == "match":
        return real.copy()
    if policy == "balance":
        return real.max() - real
    if policy == "per_class":
        return np.full_like(real, int(per_class))
    if policy == "ratio":
        return np.round(real * float(ratio)).astype(np.int64)
    raise GenaugError(f"synthesis.policy: unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")


def requested_labels(counts) -> torch.Tensor:
    """counts per class -> a label vector, class by class."""
    counts = np.asarray(counts, dtype=np.int64)
    return torch.from_numpy(np.repeat(np.arange(len(counts)), counts))


@torch.no_grad()
def pseudo_label(model, counts, labeler, *, gen: torch.Generator, device, threshold: float, batch_size: int = 2000,
                 max_draws: int | None = None, stats: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample, let `labeler` (images -> class probabilities) label, keep confident images up to each count.

    A conditional model is asked for the classes still short, in proportion to what each lacks;
    an unconditional one ignores the request. Classes still short after `max_draws` images stay
    short: `stats` records what was asked, made and drawn, and a warning names them.
    """
    need = torch.as_tensor(np.asarray(counts, dtype=np.int64))
    max_draws = max_draws if max_draws is not None else 20 * int(need.sum()) + 10 * batch_size
    kept_x, kept_y, drawn = [], [], 0
    have = torch.zeros_like(need)
    while bool((have < need).any()) and drawn < max_draws:
        short = (need - have).clamp_min(0).double()
        ask = torch.multinomial(short / short.sum(), batch_size, replacement=True, generator=gen)
        images = model.sample(ask.to(device), gen)
        drawn += batch_size
        conf, pred = labeler(images).max(1)
        keep = torch.nonzero(conf >= threshold).flatten().cpu()
        pred = pred.cpu()[keep]
        # The first confident images of each class, up to what it still needs.
        rank = torch.zeros_like(pred)
        for c in pred.unique().tolist():
            at = torch.nonzero(pred == c).flatten()
            rank[at] = torch.arange(len(at))
        take = rank < (need - have)[pred]
        kept_x.append(images[keep[take].to(images.device)])
        kept_y.append(pred[take])
        have += torch.bincount(pred[take], minlength=len(need))
    labels = torch.cat(kept_y) if kept_y else torch.empty(0, dtype=torch.long)
    order = torch.argsort(labels, stable=True)  # class by class, like the other strategies
    images = torch.cat(kept_x)[order.to(device)] if kept_x else None
    if stats is not None:
        stats.update({"threshold": threshold, "drawn": drawn, "kept": int(have.sum()),
                      "acceptance": int(have.sum()) / max(drawn, 1), "requested": need.tolist(),
                      "made": have.tolist(), "short": (need - have).tolist()})
    return images, labels[order]


@torch.no_grad()
def synthesize(model, strategy: str, counts, real_x: torch.Tensor, real_y: torch.Tensor, *, seed: int,
               batch_size: int = 2000, labeler=None, threshold: float = 0.9, max_draws: int | None = None,
               stats: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Make sum(counts) images (float in [0, 1], on the model's device) and their labels, class by class.

    For `reconstruct`, class c's images are reconstructions of the class's real images, taken in a
    seeded order and cycled when more copies than originals are needed; each pass draws a fresh
    posterior sample where the model has one, so repeated originals give different images.
    For `pseudo_label`, `labeler` maps images to class probabilities (see pseudo_label).
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    labels = requested_labels(counts)
    if strategy == "pseudo_label":
        if labeler is None:
            raise GenaugError("label strategy pseudo_label needs a labeler (a classifier trained on the real subset)")
        images, labels = pseudo_label(model, counts, labeler, gen=gen, device=real_x.device, threshold=threshold,
                                      batch_size=batch_size, max_draws=max_draws, stats=stats)
        if images is None:
            images = real_x.new_empty((0, *real_x.shape[1:]))
        return images, labels
    if strategy == "reconstruct":
        sources = []
        for c, n in enumerate(np.asarray(counts)):
            if n == 0:
                continue
            pool = torch.nonzero(real_y == c).flatten().cpu()
            if len(pool) == 0:
                raise GenaugError(f"class {c}: no real image to reconstruct; use a policy that asks none for it")
            order = pool[torch.randperm(len(pool), generator=gen)]
            sources.append(order.repeat(int(np.ceil(n / len(pool))))[:n])
        src = torch.cat(sources) if sources else torch.empty(0, dtype=torch.long)
        src_labels = labels.to(real_y.device)  # sources are taken class by class, like the labels
        make = lambda i, j: model.reconstruct(  # noqa: E731
            real_x[src[i:j].to(real_x.device)], src_labels[i:j], gen)
    elif strategy in ("per_class", "conditional"):
        device = real_x.device
        make = lambda i, j: model.sample(labels[i:j].to(device), gen)  # noqa: E731
    else:
        raise GenaugError(f"unknown label strategy {strategy!r}")
    chunks = [make(i, min(i + batch_size, len(labels))) for i in range(0, len(labels), batch_size)]
    images = torch.cat(chunks) if chunks else real_x.new_empty((0, *real_x.shape[1:]))
    return images, labels
