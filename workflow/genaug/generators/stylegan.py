"""StyleGAN-like (002; Karras et al. 2019, 2020), scaled to 28-32 px with no progressive growing:
a mapping network from z to a style w; a synthesis network from a learned constant at side/4
through modulated, demodulated convolutions (StyleGAN2's weight demodulation), each followed by
per-pixel noise with a learned per-channel strength; two upsamplings; a residual discriminator.
The default loss is the non-saturating one with an R1 penalty, as StyleGAN2 trains.

Modulation scales the input channels and demodulation scales the output channels, which equals
convolving with per-sample modulated weights but keeps one shared weight, so it runs under vmap
(per-class models) with an ordinary convolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .gan import GANBase
from .gan_nets import ResBlockDown, conv_base


class ModulatedConv(nn.Module):
    def __init__(self, cin: int, cout: int, style_dim: int, kernel: int = 3, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel) / math.sqrt(cin * kernel * kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.affine = nn.Linear(style_dim, cin)
        nn.init.ones_(self.affine.bias)  # styles start at 1: the plain convolution
        self.demodulate, self.padding = demodulate, kernel // 2

    def forward(self, x, w):
        s = self.affine(w)  # (n, cin)
        out = F.conv2d(x * s[:, :, None, None], self.weight, padding=self.padding)
        if self.demodulate:
            d = torch.rsqrt(s.pow(2) @ self.weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # (n, cout)
            out = out * d[:, :, None, None]
        return out + self.bias[None, :, None, None]


class StyleLayer(nn.Module):
    """Modulated conv, per-pixel noise times a learned per-channel strength, leaky ReLU."""

    def __init__(self, cin: int, cout: int, style_dim: int):
        super().__init__()
        self.conv = ModulatedConv(cin, cout, style_dim)
        self.noise_strength = nn.Parameter(torch.zeros(cout))

    def forward(self, x, w):
        h = self.conv(x, w)
        noise = torch.randn((h.shape[0], 1, *h.shape[2:]), device=h.device, dtype=h.dtype)
        return F.leaky_relu(h + self.noise_strength[None, :, None, None] * noise, 0.2)


class StyleGenerator(nn.Module):
    def __init__(self, latent_dim: int, image_shape, width: int, style_dim: int, mapping_layers: int):
        super().__init__()
        self.base = conv_base(image_shape)
        layers = []
        for i in range(mapping_layers):
            layers += [nn.Linear(latent_dim if i == 0 else style_dim, style_dim), nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*layers)
        self.const = nn.Parameter(torch.randn(1, 2 * width, self.base, self.base))
        self.layers = nn.ModuleList([
            StyleLayer(2 * width, 2 * width, style_dim),  # side/4
            StyleLayer(2 * width, 2 * width, style_dim), StyleLayer(2 * width, width, style_dim),  # side/2
            StyleLayer(width, width, style_dim), StyleLayer(width, width, style_dim),  # side
        ])
        self.to_image = ModulatedConv(width, image_shape[0], style_dim, kernel=1, demodulate=False)

    def forward(self, z, y):
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # pixel norm of z
        w = self.mapping(z)
        h = self.const.expand(len(z), -1, -1, -1)
        for i, layer in enumerate(self.layers):
            if i in (1, 3):
                h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = layer(h, w)
        return torch.tanh(self.to_image(h, w))


class StyleDiscriminator(nn.Module):
    def __init__(self, image_shape, width: int):
        super().__init__()
        conv_base(image_shape)
        self.blocks = nn.Sequential(ResBlockDown(image_shape[0], width, first=True), ResBlockDown(width, 2 * width),
                                    ResBlockDown(2 * width, 2 * width, down=False))
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x, y):
        return self.head(F.leaky_relu(self.blocks(x), 0.2).mean(dim=(2, 3)))


class StyleGAN(GANBase):
    """Unconditional: one per class with per_class: true (002's class-wise training)."""

    def __init__(self, image_shape, num_classes: int, *, width: int = 32, style_dim: int = 64, mapping_layers: int = 4,
                 r1: float = 0.01, **kwargs):
        super().__init__(image_shape, num_classes, r1=r1,
                         network={"width": width, "style_dim": style_dim, "mapping_layers": mapping_layers}, **kwargs)
        self.generator = StyleGenerator(self.latent_dim, image_shape, width, style_dim, mapping_layers)
        self.discriminator = StyleDiscriminator(image_shape, width)

    @torch.no_grad()
    def sample(self, labels, gen):
        """As every GAN's, with the per-pixel noise drawn from `gen` too (through a forked global RNG seeded from
        it): a synthetic set is a function of its seed alone (genaug check-generator found the noise was not)."""
        seed = int(torch.randint(0, 2**62, (1,), generator=gen))
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return super().sample(labels, gen)
