"""DiffAugment (Zhao et al. 2020): random, differentiable colour, translation and cutout, applied
to real and generated images alike before the discriminator, so a discriminator trained on a few
hundred images cannot memorize them. Batched tensor ops only (no per-image loop), so it also runs
under vmap for per-class models. Images are in [-1, 1], shape (N, C, H, W).
"""

from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def _uniform(x: torch.Tensor, *shape) -> torch.Tensor:
    return torch.rand((x.shape[0], *shape), device=x.device, dtype=x.dtype)


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness, saturation (colour images only) and contrast."""
    x = x + (_uniform(x, 1, 1, 1) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_uniform(x, 1, 1, 1) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, 1, 1, 1) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its side in each direction; vacated pixels become 0."""
    n, c, h, w = x.shape
    out = x
    for dim, size in ((2, h), (3, w)):
        reach = int(size * ratio + 0.5)
        shift = (_uniform(x, 1) * (2 * reach + 1)).floor().long() - reach  # (N, 1) in [-reach, reach]
        source = torch.arange(size, device=x.device)[None, :] - shift  # (N, size)
        inside = (source >= 0) & (source < size)
        shape = (n, 1, size, 1) if dim == 2 else (n, 1, 1, size)
        index = source.clamp(0, size - 1).view(shape).expand(n, c, h, w)
        out = torch.gather(out, dim, index) * inside.view(shape).to(x.dtype)
    return out


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of `ratio` times the side at a random place in each image."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = (_uniform(x, 1, 1) * (h + 1 - size_h % 2)).floor() - size_h // 2
    left = (_uniform(x, 1, 1) * (w + 1 - size_w % 2)).floor() - size_w // 2
    rows = torch.arange(h, device=x.device, dtype=x.dtype)[None, :, None]
    cols = torch.arange(w, device=x.device, dtype=x.dtype)[None, None, :]
    cut = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~cut).to(x.dtype)[:, None]


_OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] | list[str]) -> torch.Tensor:
    for name in policy:
        x = _OPS[name](x)
    return x
