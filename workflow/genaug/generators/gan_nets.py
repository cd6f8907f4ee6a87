"""The GAN families `gan` (unconditional) and `cgan` (conditional) and their networks.

`gan` archs: `mlp` (003's per-class MLP GAN), `dcgan` (strided convolutions with batch norm; with
loss lsgan or wgan it is the LSGAN and the clipped WGAN) and `resnet` (001's WGAN-GP: ResBlockUp
generator, ResBlockDown critic without normalization, as a gradient penalty needs).
`cgan` archs: `mlp` (000's cGAN: MLP generator with a label embedding and residual blocks; a
spectrally normalized convolutional discriminator with self-attention and a projection head),
`dcgan` (004's cDCGAN, labels joined early: one-hot to z, label maps to the image) and
`dcgan_late` (004's cDCGAN2, labels joined after the first layer on both sides).
Conv archs work on sides divisible by 4 (28 and 32): they grow from side/4.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .gan import GANBase


def conv_base(image_shape) -> int:
    side = image_shape[1]
    if image_shape[1] != image_shape[2] or side % 4:
        raise ValueError(f"conv GANs need square images with a side divisible by 4, not {image_shape[1:]}")
    return side // 4


class SelfAttention(nn.Module):
    """SAGAN's self-attention over positions, added through a gate that starts at 0."""

    def __init__(self, channels: int, sn: bool = True):
        super().__init__()
        wrap = spectral_norm if sn else (lambda m: m)
        self.query = wrap(nn.Conv2d(channels, max(1, channels // 8), 1))
        self.key = wrap(nn.Conv2d(channels, max(1, channels // 8), 1))
        self.value = wrap(nn.Conv2d(channels, channels, 1))
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.query(x).flatten(2), self.key(x).flatten(2), self.value(x).flatten(2)
        attn = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(q.shape[1]), dim=-1)  # (n, hw, hw)
        return x + self.gate * (v @ attn.transpose(1, 2)).view(n, c, h, w)


class ResBlockUp(nn.Module):
    """BN-ReLU-upsample-conv-BN-ReLU-conv with an upsampled 1x1 shortcut (001's generator block)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, padding=1), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.skip(F.interpolate(x, scale_factor=2))


class ResBlockDown(nn.Module):
    """ReLU-conv-ReLU-conv-avgpool with a 1x1 avgpooled shortcut; no normalization (critic block)."""

    def __init__(self, cin: int, cout: int, down: bool = True, first: bool = False, sn: bool = False):
        super().__init__()
        wrap = spectral_norm if sn else (lambda m: m)
        self.conv1, self.conv2 = wrap(nn.Conv2d(cin, cout, 3, padding=1)), wrap(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = wrap(nn.Conv2d(cin, cout, 1))
        self.down, self.first = down, first

    def forward(self, x):
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        s = self.skip(x)
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


def label_maps(y: torch.Tensor, num_classes: int, h: int, w: int, dtype) -> torch.Tensor:
    return F.one_hot(y, num_classes).to(dtype)[:, :, None, None].expand(-1, -1, h, w)


class MLPGenerator(nn.Module):
    """003's MLP generator; with `num_classes`, 000's: a label embedding joined to z and residual blocks."""

    def __init__(self, latent_dim: int, image_shape, hidden=(256, 512), num_classes: int = 0, label_dim: int = 32):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.embed = nn.Embedding(num_classes, label_dim) if num_classes else None
        h1, h2 = hidden
        self.inp = nn.Sequential(nn.Linear(latent_dim + (label_dim if num_classes else 0), h1), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(h1, h1), nn.LeakyReLU(0.2), nn.Linear(h1, h1))
            for _ in range(2 if num_classes else 0)
        )
        self.out = nn.Sequential(nn.Linear(h1, h2), nn.LeakyReLU(0.2), nn.Linear(h2, math.prod(self.image_shape)),
                                 nn.Tanh())

    def forward(self, z, y):
        h = self.inp(torch.cat([z, self.embed(y)], 1) if self.embed is not None else z)
        for block in self.blocks:
            h = F.leaky_relu(h + block(h), 0.2)
        return self.out(h).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """003's MLP discriminator."""

    def __init__(self, image_shape, hidden=(512, 256)):
        super().__init__()
        h1, h2 = hidden
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), h1), nn.LeakyReLU(0.2),
                                 nn.Linear(h1, h2), nn.LeakyReLU(0.2), nn.Linear(h2, 1))

    def forward(self, x, y):
        return self.net(x)


class DCGenerator(nn.Module):
    """DCGAN: a linear layer to (4w, s/4, s/4), then two stride-2 transposed convolutions with batch norm.

    `labels`: None, "early" (one-hot joined to z) or "late" (a label branch joined after the first layer).
    """

    def __init__(self, latent_dim: int, image_shape, width: int, num_classes: int = 0, labels: str | None = None):
        super().__init__()
        c, base = image_shape[0], conv_base(image_shape)
        self.base, self.width, self.num_classes, self.labels = base, width, num_classes, labels
        zin = latent_dim + (num_classes if labels == "early" else 0)
        zout = 4 * width if labels != "late" else 2 * width
        self.project = nn.Linear(zin, zout * base * base)
        self.label_branch = nn.Linear(num_classes, 2 * width * base * base) if labels == "late" else None
        self.net = nn.Sequential(
            nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, c, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z, y):
        b = self.base
        if self.labels == "early":
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)
        h = self.project(z).view(len(z), -1, b, b)
        if self.label_branch is not None:
            lab = self.label_branch(F.one_hot(y, self.num_classes).to(z.dtype)).view(len(z), -1, b, b)
            h = torch.cat([h, lab], 1)
        return self.net(h)


def minibatch_std(h: torch.Tensor, group: int = 4) -> torch.Tensor:
    """StyleGAN's minibatch standard deviation (Karras et al. 2018): one extra feature map holding how much the
    images of each group of `group` differ, so that the discriminator sees a batch that lacks variety."""
    n, c, hh, ww = h.shape
    g = min(group, n)
    if n % g:
        g = 1 if n == 1 else next(k for k in range(g, 0, -1) if n % k == 0)
    grouped = h.float().view(g, n // g, c, hh, ww)
    std = (grouped.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # one value per group member slot
    return torch.cat([h, std.to(h.dtype).view(1, n // g, 1, 1, 1).expand(g, -1, 1, hh, ww).reshape(n, 1, hh, ww)], 1)


class DCDiscriminator(nn.Module):
    """Two stride-2 convolutions (batch norm on the second) and a linear head; label maps join the
    image ("early") or the first layer's output ("late") when conditional. `mbstd` adds a minibatch-std map
    to the first layer's output, ahead of the batch norm that would hide a batch's lack of variety."""

    def __init__(self, image_shape, width: int, num_classes: int = 0, labels: str | None = None,
                 mbstd: bool = False):
        super().__init__()
        c, base = image_shape[0], conv_base(image_shape)
        self.num_classes, self.labels, self.mbstd = num_classes, labels, mbstd
        self.conv1 = nn.Conv2d(c + (num_classes if labels == "early" else 0), width, 4, 2, 1)
        self.conv2 = nn.Conv2d(width + (num_classes if labels == "late" else 0) + int(mbstd), 2 * width, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.head = nn.Linear(2 * width * base * base, 1)

    def forward(self, x, y):
        if self.labels == "early":
            x = torch.cat([x, label_maps(y, self.num_classes, *x.shape[2:], x.dtype)], 1)
        h = F.leaky_relu(self.conv1(x), 0.2)
        if self.mbstd:
            h = minibatch_std(h)
        if self.labels == "late":
            h = torch.cat([h, label_maps(y, self.num_classes, *h.shape[2:], h.dtype)], 1)
        h = F.leaky_relu(self.bn2(self.conv2(h)), 0.2)
        return self.head(h.flatten(1))


class ResNetGenerator(nn.Module):
    """001's WGAN-GP generator: linear to (w, s/4, s/4), two ResBlockUp, BN-ReLU-conv-tanh."""

    def __init__(self, latent_dim: int, image_shape, width: int):
        super().__init__()
        self.base, self.width = conv_base(image_shape), width
        self.project = nn.Linear(latent_dim, width * self.base ** 2)
        self.blocks = nn.Sequential(ResBlockUp(width, width), ResBlockUp(width, width))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, image_shape[0], 3, padding=1),
                                 nn.Tanh())

    def forward(self, z, y):
        return self.out(self.blocks(self.project(z).view(len(z), self.width, self.base, self.base)))


class ResNetCritic(nn.Module):
    """001's critic: ResBlockDown x2, a ResBlock, ReLU, global average, linear; no normalization."""

    def __init__(self, image_shape, width: int):
        super().__init__()
        self.blocks = nn.Sequential(ResBlockDown(image_shape[0], width, first=True), ResBlockDown(width, width),
                                    ResBlockDown(width, width, down=False))
        self.head = nn.Linear(width, 1)
        conv_base(image_shape)

    def forward(self, x, y):
        return self.head(F.relu(self.blocks(x)).mean(dim=(2, 3)))


class AttentionDiscriminator(nn.Module):
    """000's cGAN discriminator: spectrally normalized convolutions, self-attention at side/2, and a
    projection head (the class embedding's inner product with the features) for the label."""

    def __init__(self, image_shape, width: int, num_classes: int):
        super().__init__()
        conv_base(image_shape)
        self.conv1 = spectral_norm(nn.Conv2d(image_shape[0], width, 4, 2, 1))
        self.attn = SelfAttention(width)
        self.conv2 = spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1))
        self.head = spectral_norm(nn.Linear(2 * width, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, 2 * width))

    def forward(self, x, y):
        h = self.attn(F.leaky_relu(self.conv1(x), 0.2))
        h = F.leaky_relu(self.conv2(h), 0.2).sum(dim=(2, 3))
        return self.head(h) + (self.embed(y) * h).sum(1, keepdim=True)


class _ArchGAN(GANBase):
    """A GAN family whose networks are chosen by `arch` (one of ARCHS) and scaled by `width`."""

    ARCHS: tuple[str, ...] = ()

    def __init__(self, image_shape, num_classes: int, *, arch: str = "dcgan", width: int = 32, mbstd: bool = False,
                 **kwargs):
        if arch not in self.ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(self.ARCHS)}")
        if mbstd and not arch.startswith("dcgan"):
            raise ValueError(f"mbstd: the minibatch-std map is built into the dcgan discriminators only, not {arch!r}")
        network = {"arch": arch, "width": width, **({"mbstd": True} if mbstd else {})}
        super().__init__(image_shape, num_classes, network=network, **kwargs)
        self.mbstd = mbstd
        self.generator, self.discriminator = self.networks(arch, tuple(image_shape), num_classes, width)

    def networks(self, arch: str, image_shape, num_classes: int, width: int) -> tuple[nn.Module, nn.Module]:
        raise NotImplementedError


class GAN(_ArchGAN):
    """Unconditional GANs (one per class with per_class: true): arch mlp, dcgan or resnet."""

    ARCHS = ("mlp", "dcgan", "resnet")

    def networks(self, arch, image_shape, num_classes, width):
        if arch == "mlp":
            return MLPGenerator(self.latent_dim, image_shape), MLPDiscriminator(image_shape)
        if arch == "dcgan":
            return DCGenerator(self.latent_dim, image_shape, width), DCDiscriminator(image_shape, width,
                                                                                     mbstd=self.mbstd)
        return ResNetGenerator(self.latent_dim, image_shape, width), ResNetCritic(image_shape, width)


class CGAN(_ArchGAN):
    """Class-conditional GANs: arch mlp (000's cGAN), dcgan (004's cDCGAN) or dcgan_late (004's cDCGAN2)."""

    conditional = True
    ARCHS = ("mlp", "dcgan", "dcgan_late")

    def networks(self, arch, image_shape, num_classes, width):
        if arch == "mlp":
            return (MLPGenerator(self.latent_dim, image_shape, num_classes=num_classes),
                    AttentionDiscriminator(image_shape, width, num_classes))
        labels = "early" if arch == "dcgan" else "late"
        return (DCGenerator(self.latent_dim, image_shape, width, num_classes, labels),
                DCDiscriminator(image_shape, width, num_classes, labels, mbstd=self.mbstd))
