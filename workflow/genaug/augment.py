"""Classic augmentation (the `classic` arm): random shifts, horizontal flips and random erasing.

All three run on a whole batch tensor at once, on the batch's device, with no per-image loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ClassicAugment:
    """Random translation by up to `shift` pixels, optional flips, and erasing with probability `erase_p`."""

    shift: int = 2
    flip: bool = True
    erase_p: float = 0.5
    erase_scale: tuple[float, float] = (0.02, 0.2)  # erased area as a fraction of the image
    erase_ratio: tuple[float, float] = (0.3, 3.3)  # aspect ratio range of the erased box

    def describe(self) -> str:
        """What the arm does, in words, for the report."""
        parts = [f"random shifts of up to {self.shift} px" if self.shift else "no shifts",
                 "horizontal flips (p 0.5)" if self.flip else "no flips",
                 (f"random erasing (p {self.erase_p:g}, {self.erase_scale[0]:.0%}-{self.erase_scale[1]:.0%} of the "
                  f"image, aspect {self.erase_ratio[0]:g}-{self.erase_ratio[1]:g})") if self.erase_p else "no erasing"]
        return ", ".join(parts)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.shift > 0:
            x = random_shift(x, self.shift, gen)
        if self.flip:
            x = random_hflip(x, gen)
        if self.erase_p > 0:
            x = random_erase(x, self.erase_p, self.erase_scale, self.erase_ratio, gen)
        return x


def _rand(shape, gen, device) -> torch.Tensor:
    return torch.rand(shape, generator=gen, device=gen.device).to(device)


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift]^2, filling with zeros."""
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, b), generator=gen, device=gen.device).to(x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (b, h)
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # (b, w)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (b, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability p."""
    mask = _rand(x.shape[0], gen, x.device) < p
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def random_erase(x, p: float, scale, ratio, gen: torch.Generator, value: float = 0.0) -> torch.Tensor:
    """Zero one random box per image with probability p (Zhong et al., 2017), boxes clipped to the image."""
    b, _, h, w = x.shape
    u = _rand((5, b), gen, x.device)
    area = (scale[0] + (scale[1] - scale[0]) * u[0]) * h * w
    log_r = torch.log(torch.tensor(ratio, device=x.device))
    aspect = torch.exp(log_r[0] + (log_r[1] - log_r[0]) * u[1])
    bh = torch.sqrt(area * aspect).round().clamp(1, h)
    bw = torch.sqrt(area / aspect).round().clamp(1, w)
    top = ((h - bh + 1) * u[2]).floor()
    left = ((w - bw + 1) * u[3]).floor()
    apply = u[4] < p
    r = torch.arange(h, device=x.device)[None, :, None]
    c = torch.arange(w, device=x.device)[None, None, :]
    box = (
        (r >= top[:, None, None])
        & (r < (top + bh)[:, None, None])
        & (c >= left[:, None, None])
        & (c < (left + bw)[:, None, None])
        & apply[:, None, None]
    )
    return x.masked_fill(box[:, None], value)
