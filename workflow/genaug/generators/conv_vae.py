"""A convolutional VAE: the thesis's NM1/NM2 (003) scaled to a CPU, and 001's beta-VAE.

003's encoder is two stride-2 convolutions (512 and 1024 channels), a dense layer of 400 and a
100-d latent; its decoder a dense layer back to 7x7x1024 and transposed convolutions up to 28x28
(about 44M parameters). Here the same shape runs with (16, 32) channels and a dense layer of 256
in the presets (about 0.63M parameters with latent 100), so ten per-class models train on a CPU.
001's beta-VAE is this network with `beta: 0.8, anneal_epochs: 20` (the `beta_vae` preset).
Images need a side divisible by 4 (28 and 32 both are).
"""

from __future__ import annotations

import torch.nn as nn

from .vae import GaussianVAE


class ConvVAE(GaussianVAE):
    def __init__(self, image_shape, num_classes: int, *, channels=(16, 32), hidden: int = 256,
                 latent_dim: int = 100, **kwargs):
        super().__init__(image_shape, num_classes, latent_dim=latent_dim,
                         network={"channels": list(channels), "hidden": hidden}, **kwargs)
        c, h, w = self.image_shape
        if h % 4 or w % 4:
            raise ValueError(f"conv_vae needs image sides divisible by 4, got {h}x{w}; set image_size to 28 or 32")
        c1, c2 = channels
        self.grid = (c2, h // 4, w // 4)
        flat = c2 * (h // 4) * (w // 4)
        self.encoder = nn.Sequential(
            nn.Conv2d(c, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(),
        )
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.expand = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1),
        )

    def encode(self, x, y):
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h).clamp(-30, 20)

    def decode_logits(self, z, y):
        return self.decoder(self.expand(z).view(-1, *self.grid))
