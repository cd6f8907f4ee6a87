"""A generator genaug does not ship: a small autoencoder whose latent space holds one Gaussian per class.

Training (genaug's shared loop) minimises the reconstruction loss and keeps each class's latent mean and
variance as a running average; sampling draws z ~ N(mean_c, var_c) for the asked class c and decodes it.
It is here to show the contract (docs/plugins.md), not to win: it makes blurry, class-faithful images.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from genaug.generators.base import Generator


class LatentGaussian(Generator):
    conditional = True  # sample() draws the class it is asked for
    can_reconstruct = False

    def __init__(self, image_shape, num_classes, hidden: int = 256, latent_dim: int = 8, momentum: float = 0.05):
        super().__init__(image_shape, num_classes, hidden=hidden, latent_dim=latent_dim, momentum=momentum)
        pixels = math.prod(image_shape)
        self.latent_dim, self.momentum = latent_dim, momentum
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, pixels))
        self.register_buffer("class_mean", torch.zeros(num_classes, latent_dim))
        self.register_buffer("class_var", torch.ones(num_classes, latent_dim))

    def loss(self, x, y):
        z = self.encoder(x)
        logits = self.decoder(z).view_as(x)
        loss = F.binary_cross_entropy_with_logits(logits, x)
        with torch.no_grad():  # each class's latent moments, as a running average over its batches
            z = z.float()
            count = torch.bincount(y, minlength=self.num_classes).clamp(min=1).float()[:, None]
            mean = torch.zeros_like(self.class_mean).index_add_(0, y, z) / count
            sq = torch.zeros_like(self.class_var).index_add_(0, y, z * z) / count
            seen = torch.bincount(y, minlength=self.num_classes)[:, None] > 0
            rate = torch.where(seen, self.momentum, 0.0)
            self.class_mean.lerp_(mean, rate)
            self.class_var.lerp_((sq - mean * mean).clamp(min=1e-4), rate)
        return loss, {"recon": loss.detach()}

    @torch.no_grad()
    def sample(self, labels, gen):
        eps = torch.randn((len(labels), self.latent_dim), generator=gen, device=gen.device).to(self.device)
        labels = labels.to(self.device)
        z = self.class_mean[labels] + eps * self.class_var[labels].sqrt()
        return torch.sigmoid(self.decoder(z)).view(len(labels), *self.image_shape)
