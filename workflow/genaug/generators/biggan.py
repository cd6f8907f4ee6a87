"""BigGAN-like (000; Brock et al. 2019), scaled to 28-32 px: a shared class embedding joined with a
chunk of z conditions every generator block through class-conditional batch norm; residual up
and down blocks; self-attention at side/2; spectral norm in both networks; a projection
discriminator; the hinge loss (the family's default).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .gan import GANBase
from .gan_nets import ResBlockDown, SelfAttention, conv_base


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose gain and bias are linear functions of the conditioning vector."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = spectral_norm(nn.Linear(cond_dim, channels))
        self.bias = spectral_norm(nn.Linear(cond_dim, channels))

    def forward(self, x, cond):
        return self.norm(x) * (1 + self.gain(cond))[:, :, None, None] + self.bias(cond)[:, :, None, None]


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int):
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm(cin, cond_dim), ConditionalBatchNorm(cout, cond_dim)
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x, cond):
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.skip(F.interpolate(x, scale_factor=2))


class BigGenerator(nn.Module):
    def __init__(self, latent_dim: int, image_shape, width: int, num_classes: int, embed_dim: int):
        super().__init__()
        self.base, self.width = conv_base(image_shape), width
        self.chunk = latent_dim // 3  # z splits into the input's chunk and one per block (hierarchical z)
        if self.chunk < 1:
            raise ValueError(f"biggan needs latent_dim >= 3, not {latent_dim}")
        cond_dim = embed_dim + self.chunk
        self.shared = nn.Embedding(num_classes, embed_dim)
        self.project = spectral_norm(nn.Linear(latent_dim - 2 * self.chunk, 4 * width * self.base ** 2))
        self.block1 = GBlock(4 * width, 2 * width, cond_dim)
        self.attn = SelfAttention(2 * width)
        self.block2 = GBlock(2 * width, width, cond_dim)
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                 spectral_norm(nn.Conv2d(width, image_shape[0], 3, padding=1)), nn.Tanh())

    def forward(self, z, y):
        z0, z1, z2 = torch.split(z, [z.shape[1] - 2 * self.chunk, self.chunk, self.chunk], dim=1)
        e = self.shared(y)
        h = self.project(z0).view(len(z), 4 * self.width, self.base, self.base)
        h = self.attn(self.block1(h, torch.cat([e, z1], 1)))
        return self.out(self.block2(h, torch.cat([e, z2], 1)))


class BigDiscriminator(nn.Module):
    def __init__(self, image_shape, width: int, num_classes: int):
        super().__init__()
        conv_base(image_shape)
        self.block1 = ResBlockDown(image_shape[0], width, first=True, sn=True)
        self.attn = SelfAttention(width)
        self.block2 = ResBlockDown(width, 2 * width, sn=True)
        self.block3 = ResBlockDown(2 * width, 2 * width, down=False, sn=True)
        self.head = spectral_norm(nn.Linear(2 * width, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, 2 * width))

    def forward(self, x, y):
        h = self.block3(self.block2(self.attn(self.block1(x))))
        h = F.relu(h).sum(dim=(2, 3))
        return self.head(h) + (self.embed(y) * h).sum(1, keepdim=True)


class BigGAN(GANBase):
    conditional = True

    def __init__(self, image_shape, num_classes: int, *, width: int = 32, embed_dim: int = 32,
                 loss: str = "hinge", **kwargs):
        super().__init__(image_shape, num_classes, loss=loss, network={"width": width, "embed_dim": embed_dim},
                         **kwargs)
        self.generator = BigGenerator(self.latent_dim, image_shape, width, num_classes, embed_dim)
        self.discriminator = BigDiscriminator(image_shape, width, num_classes)
