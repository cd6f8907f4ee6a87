"""000's MLP variational autoencoder.

The encoder has two ReLU hidden layers into mu and log-variance; the decoder mirrors it and ends
in a sigmoid, so pixels lie in [0, 1]. The loss is the per-image Bernoulli negative log-likelihood
(summed binary cross-entropy) plus beta times the KL divergence to N(0, I).
With the default sizes (hidden 200 and 100, latent 20) it has about 361k parameters at 28x28x1,
close to the 367,024 that 000's Table 1 gives without naming its layer sizes.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Generator


class VAE(Generator):
    can_reconstruct = True

    def __init__(self, image_shape, num_classes: int, *, hidden=(200, 100), latent_dim: int = 20, beta: float = 1.0):
        super().__init__(image_shape, num_classes, hidden=list(hidden), latent_dim=latent_dim, beta=beta)
        d = math.prod(self.image_shape)
        h1, h2 = hidden
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU())
        self.to_mu = nn.Linear(h2, latent_dim)
        self.to_logvar = nn.Linear(h2, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, h2), nn.ReLU(), nn.Linear(h2, h1), nn.ReLU(), nn.Linear(h1, d)
        )
        self.latent_dim = latent_dim
        self.beta = beta

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h).clamp(-30, 20)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)

    def loss(self, x, y):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        return recon + self.beta * kl, {"recon": recon.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def sample(self, labels, gen):
        z = torch.randn((len(labels), self.latent_dim), generator=gen, device=gen.device).to(self.device)
        return torch.sigmoid(self.decode_logits(z))

    @torch.no_grad()
    def reconstruct(self, x, gen):
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=gen, device=gen.device).to(mu.device)
        return torch.sigmoid(self.decode_logits(mu + eps * torch.exp(0.5 * logvar)))
