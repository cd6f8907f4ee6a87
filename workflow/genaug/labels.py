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
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import GenaugError

POLICIES = ("match", "balance", "per_class", "ratio")


def synthetic_counts(real_counts, policy: str, *, per_class: int = 0, ratio: float = 1.0) -> np.ndarray:
    """Synthetic images to make for each class under a count policy."""
    real = np.asarray(real_counts, dtype=np.int64)
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
def synthesize(model, strategy: str, counts, real_x: torch.Tensor, real_y: torch.Tensor, *, seed: int,
               batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Make sum(counts) images (float in [0, 1], on the model's device) and their labels.

    For `reconstruct`, class c's images are reconstructions of the class's real images, taken in a
    seeded order and cycled when more copies than originals are needed; each pass draws a fresh
    posterior sample, so repeated originals give different images.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    labels = requested_labels(counts)
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
        make = lambda i, j: model.reconstruct(real_x[src[i:j].to(real_x.device)], gen)  # noqa: E731
    elif strategy in ("per_class", "conditional"):
        device = real_x.device
        make = lambda i, j: model.sample(labels[i:j].to(device), gen)  # noqa: E731
    else:
        raise GenaugError(f"unknown label strategy {strategy!r}")
    chunks = [make(i, min(i + batch_size, len(labels))) for i in range(0, len(labels), batch_size)]
    images = torch.cat(chunks) if chunks else real_x.new_empty((0, *real_x.shape[1:]))
    return images, labels
