"""What a domain FD of k times the floor looks like: real images, altered in known ways, scored the same way.

"cvae is 15x the floor" says nothing on its own. The same real floor draws, each altered by one small,
named change (a blur, pixel noise, a one-pixel shift, a few images repeated), are scored against the same
reference at the same count, so a generator's ratio reads against changes a person can picture: "between
real images blurred by half a pixel and real images with 5 % pixel noise". Measured on Fashion-MNIST, a
blur of half a pixel or a random one-pixel shift alone puts real images at about 12x their floor: the
reference network's features see pixel-level changes that leave every image's class plain
(docs/measured/2026-12-06-fd-yardsticks.md).

Every alteration is batched over the whole draw and seeded, so floor.json is the same on every run. torch is
imported where it is used: the report reads the words here without loading it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .streams import seed

SEED = seed("yardsticks")  # one stream for every alteration, so floor.json is the same on every run


def _corrupted(name: str, strength: float) -> Callable:
    """One of the denoising VAE's corruptions, on uint8 images."""
    def alter(images, labels):
        from .data import to_uint8
        from .generators.corruptions import corrupt
        return to_uint8(corrupt(images.float() / 255, name, strength))
    return alter


def _shifted(pixels: int) -> Callable:
    """Each image moved by a whole number of pixels, up to `pixels` each way (zero included), the edge filled with
    black: the classic arm's shift."""
    def shift(images, labels):
        import torch

        from .augment import random_shift
        return random_shift(images, pixels, torch.Generator().manual_seed(SEED))
    return shift


def _repeated(times: int) -> Callable:
    """Each class's first 1/times of images, each repeated `times` times: the same count and class balance with
    a tenth (say) of the variety, what a partly collapsed generator draws."""
    def repeat(images, labels):
        import torch

        picks = []
        for c in labels.unique():
            idx = torch.nonzero(labels == c).flatten()
            keep = max(1, len(idx) // times)
            picks.append(idx[:keep].repeat(-(-len(idx) // keep))[:len(idx)])
        return images[torch.cat(picks)]
    return repeat


# id: (what it is, in words a report can print; the alteration). Ordered from mild to strong.
YARDSTICKS: dict[str, tuple[str, Callable]] = {
    "repeat2": ("real images, half of them each twice", _repeated(2)),
    "noise0.02": ("real images + pixel noise, sd 2 % of the range", _corrupted("gaussian", 0.02)),
    "repeat5": ("real images, a fifth of them each 5 times", _repeated(5)),
    "repeat10": ("real images, a tenth of them each 10 times", _repeated(10)),
    "noise0.05": ("real images + pixel noise, sd 5 % of the range", _corrupted("gaussian", 0.05)),
    "rotate5": ("real images rotated by up to 5 degrees", _corrupted("rotation", 5.0)),
    "shift1": ("real images shifted by up to 1 pixel", _shifted(1)),
    "blur0.5": ("real images blurred, sigma 0.5 pixel", _corrupted("blur", 0.5)),
    "shift2": ("real images shifted by up to 2 pixels", _shifted(2)),
    "blur1": ("real images blurred, sigma 1 pixel", _corrupted("blur", 1.0)),
}


# The yardsticks that change pixels (the others repeat images, which only a set's diversity shows): what a feature
# space that sees image quality must set far from the floor.
ALTERS_PIXELS = frozenset(k for k in YARDSTICKS if not k.startswith("repeat"))


def describe(key: str) -> str:
    """The words for yardstick `key`; the key itself when unknown (a floor.json from a later genaug)."""
    return YARDSTICKS[key][0] if key in YARDSTICKS else key


def score_yardsticks(net, real_features: np.ndarray, draws: list[tuple],
                     floor_fd: float) -> dict:
    """Each yardstick's domain FD (mean over the real floor draws, each altered) and its ratio to `floor_fd`.
    `draws` are (uint8 images, labels) pairs; the caller's RNG state is left as it was."""
    import torch

    from .metrics import features, frechet_distance

    out = {}
    with torch.random.fork_rng(devices=[]):
        for key, (_, alter) in YARDSTICKS.items():
            torch.manual_seed(SEED)
            fds = [frechet_distance(real_features, features(net, alter(images, labels)).astype(np.float64))
                   for images, labels in draws]
            out[key] = {"domain_fd": float(np.mean(fds)), "ratio": float(np.mean(fds) / floor_fd)}
    return out
