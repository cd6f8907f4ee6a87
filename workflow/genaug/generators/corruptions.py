"""000's six input corruptions for the denoising VAE, each batched over a whole tensor.

Every function takes float images (N, C, H, W) in [0, 1] and a strength, and returns corrupted
images in [0, 1]. Randomness comes from torch's global RNG, so the functions also run under
torch.func.vmap(randomness="different") for stacked per-class models. No per-image Python loop.

  gaussian     add N(0, strength^2) noise per pixel
  salt_pepper  set exactly round(strength * H * W) pixel positions per image to 0 or 1 (half each)
  rotation     rotate by an angle drawn uniformly from [-strength, strength] degrees (bilinear)
  brightness   add an offset drawn uniformly from [-strength, strength] per image
  contrast     scale deviations from the image mean by a factor from [1 - strength, 1 + strength]
  blur         Gaussian blur with standard deviation `strength` pixels
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DEFAULT_STRENGTH = {
    "gaussian": 0.2, "salt_pepper": 0.1, "rotation": 30.0, "brightness": 0.3, "contrast": 0.5, "blur": 1.0,
}
CORRUPTIONS = tuple(DEFAULT_STRENGTH)


def _uniform(n: int, like: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, device=like.device, dtype=like.dtype)


def gaussian(x: torch.Tensor, strength: float) -> torch.Tensor:
    return (x + strength * torch.randn_like(x)).clamp(0, 1)


def salt_pepper(x: torch.Tensor, strength: float) -> torch.Tensor:
    n, c, h, w = x.shape
    k = round(strength * h * w)
    # The first k positions of a random permutation per image: exactly k pixels, the same in every channel.
    order = torch.rand(n, h * w, device=x.device).argsort(dim=1)
    hit = torch.zeros(n, h * w, device=x.device, dtype=x.dtype).scatter(1, order[:, :k], 1.0)
    value = (torch.rand(n, h * w, device=x.device) < 0.5).to(x.dtype)  # salt (1) or pepper (0)
    hit, value = hit.view(n, 1, h, w), value.view(n, 1, h, w)
    return x * (1 - hit) + value * hit


def rotation(x: torch.Tensor, strength: float) -> torch.Tensor:
    n, _, h, w = x.shape
    angle = _uniform(n, x, -strength, strength) * (math.pi / 180)
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    # The sampling grid of F.affine_grid (align_corners=False), written out: affine_grid has no vmap rule.
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) * 2 + 1) / w - 1
    gy, gx = ys[:, None].expand(h, w), xs[None, :].expand(h, w)
    grid = torch.stack([cos * gx - sin * gy, sin * gx + cos * gy], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)


def brightness(x: torch.Tensor, strength: float) -> torch.Tensor:
    offset = _uniform(x.shape[0], x, -strength, strength).view(-1, 1, 1, 1)
    return (x + offset).clamp(0, 1)


def contrast(x: torch.Tensor, strength: float) -> torch.Tensor:
    factor = _uniform(x.shape[0], x, 1 - strength, 1 + strength).view(-1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0, 1)


def blur_kernel(sigma: float, dtype=torch.float32, max_radius: int = 64) -> torch.Tensor:
    """A normalised 1-D Gaussian kernel reaching 3 sigma each side (at most max_radius)."""
    radius = min(max_radius, max(1, math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def blur(x: torch.Tensor, strength: float) -> torch.Tensor:
    if strength <= 0:
        return x
    c = x.shape[1]
    k = blur_kernel(strength, x.dtype, max_radius=min(x.shape[-2:]) - 1).to(x.device)
    r = len(k) // 2
    # Separable depthwise convolution; reflect padding keeps the borders from darkening.
    out = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(out, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


FUNCTIONS = {"gaussian": gaussian, "salt_pepper": salt_pepper, "rotation": rotation, "brightness": brightness,
             "contrast": contrast, "blur": blur}


def corrupt(x: torch.Tensor, name: str, strength: float | None = None) -> torch.Tensor:
    """Apply corruption `name` at `strength` (its default when None) to a batch."""
    return FUNCTIONS[name](x, DEFAULT_STRENGTH[name] if strength is None else float(strength))
