"""Gaussian VAEs: 000's MLP VAE, its denoising variant (DVAE) and a conditional VAE (CVAE).

`GaussianVAE` holds what every VAE here shares: the objective (per-image Bernoulli negative
log-likelihood, i.e. summed binary cross-entropy, plus beta times the KL divergence to N(0, I)),
beta annealing (001: linear from 0 to beta over `anneal_epochs`), the denoising option, sampling
from the prior and reconstruction. Subclasses supply the networks (`encode`, `decode_logits`).

A DVAE is the same network with `corruption` set: it encodes a corrupted image and is scored on
reconstructing the clean one (000's six corruptions, see corruptions.py). `dvae_blur` in the
config is family `vae` with `corruption: blur`, not a class of its own.

000's MLP VAE: two ReLU hidden layers into mu and log-variance, a mirrored decoder, a sigmoid
output. Hidden (200, 100) with latent 20 gives about 361k parameters at 28x28x1, close to the
367,024 of 000's Table 1 (which does not name its layer sizes).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Generator
from .corruptions import CORRUPTIONS, corrupt

PRIORS = ("normal", "gmm")  # where sample() draws latents: N(0, I), or a mixture fitted after training


class GaussianVAE(Generator):
    can_reconstruct = True

    def __init__(self, image_shape, num_classes: int, *, latent_dim: int, beta: float = 1.0,
                 anneal_epochs: float = 0, corruption: str | None = None, corruption_strength: float | None = None,
                 prior: str = "normal", prior_components: int = 10, network: dict | None = None):
        if corruption is not None and corruption not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {corruption!r}; choose one of {', '.join(CORRUPTIONS)}")
        if prior not in PRIORS:
            raise ValueError(f"unknown prior {prior!r}; choose one of {', '.join(PRIORS)}")
        if not isinstance(prior_components, int) or prior_components < 1:
            raise ValueError(f"prior_components must be a whole number >= 1, got {prior_components!r}")
        super().__init__(image_shape, num_classes, latent_dim=latent_dim, beta=beta, anneal_epochs=anneal_epochs,
                         corruption=corruption, corruption_strength=corruption_strength, prior=prior,
                         prior_components=prior_components, **(network or {}))
        self.latent_dim, self.beta, self.anneal_epochs = latent_dim, beta, anneal_epochs
        self.corruption, self.corruption_strength = corruption, corruption_strength
        self.prior, self.prior_components = prior, prior_components
        if prior == "gmm":  # one mixture per class (a conditional model) or one for all; N(0, I) until fitted
            groups, k = num_classes if self.conditional else 1, prior_components
            self.register_buffer("prior_means", torch.zeros(groups, k, latent_dim))
            self.register_buffer("prior_scale_tril", torch.eye(latent_dim).repeat(groups, k, 1, 1))
            self.register_buffer("prior_weights", torch.zeros(groups, k).index_fill_(1, torch.tensor([0]), 1.0))

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def beta_now(self) -> torch.Tensor:
        """The KL weight at the current epoch: beta, or its linear ramp from 0 while annealing."""
        if self.anneal_epochs <= 0:
            return torch.as_tensor(float(self.beta))
        return self.beta * torch.clamp(self.epoch / self.anneal_epochs, max=1.0)

    def loss(self, x, y):
        source = x if self.corruption is None else corrupt(x, self.corruption, self.corruption_strength)
        mu, logvar = self.encode(source, y)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy_with_logits(self.decode_logits(z, y), x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        beta = self.beta_now()
        return recon + beta * kl, {"recon": recon.detach(), "kl": kl.detach(), "beta": beta.detach()}

    @torch.no_grad()
    def after_training(self, x, y):
        if self.prior == "gmm":
            self._fit_prior(x, y)

    def _fit_prior(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 1024) -> None:
        """Ex-post density estimation (Ghosh et al. 2020): a full-covariance Gaussian mixture fitted to the
        encoder means of the training images, per class for a conditional model, so that samples come from where
        the decoder was trained rather than from the holes N(0, I) leaves between the encoded images."""
        from sklearn.mixture import GaussianMixture

        mu = torch.cat([self.encode(x[i:i + chunk], y[i:i + chunk])[0] for i in range(0, len(x), chunk)]).double()
        groups = y if self.conditional else torch.zeros_like(y)
        for g in range(len(self.prior_means)):
            points = mu[groups == g].cpu().numpy()
            if len(points) < 2:  # nothing (or one image) to fit: this class keeps N(0, I)
                continue
            k = min(self.prior_components, max(1, len(points) // 10))  # about ten images per component at least
            gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=0).fit(points)
            self.prior_weights[g].zero_()
            self.prior_weights[g, :k] = torch.from_numpy(gmm.weights_)
            self.prior_means[g, :k] = torch.from_numpy(gmm.means_)
            self.prior_scale_tril[g, :k] = torch.linalg.cholesky(torch.from_numpy(gmm.covariances_))

    def _prior_sample(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        eps = torch.randn((len(labels), self.latent_dim), generator=gen, device=gen.device).to(self.device)
        if self.prior == "normal":
            return eps
        groups = labels.to(self.device) if self.conditional else torch.zeros_like(labels, device=self.device)
        weights = self.prior_weights[groups].to(gen.device)
        component = torch.multinomial(weights, 1, generator=gen).flatten().to(self.device)
        scale = self.prior_scale_tril[groups, component]
        return self.prior_means[groups, component] + (scale @ eps.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def sample(self, labels, gen):
        z = self._prior_sample(labels, gen)
        return torch.sigmoid(self.decode_logits(z, labels.to(self.device)))

    @torch.no_grad()
    def reconstruct(self, x, y, gen):
        mu, logvar = self.encode(x, y)
        eps = torch.randn(mu.shape, generator=gen, device=gen.device).to(mu.device)
        return torch.sigmoid(self.decode_logits(mu + eps * torch.exp(0.5 * logvar), y))


class VAE(GaussianVAE):
    """000's MLP VAE (and DVAE with `corruption`)."""

    label_dim = 0  # width of the label code joined to encoder and decoder inputs (CVAE)

    def __init__(self, image_shape, num_classes: int, *, hidden=(200, 100), latent_dim: int = 20, **kwargs):
        super().__init__(image_shape, num_classes, latent_dim=latent_dim, network={"hidden": list(hidden)}, **kwargs)
        d = math.prod(self.image_shape)
        h1, h2 = hidden
        c = self.label_dim
        self.encoder = nn.Sequential(nn.Linear(d + c, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU())
        self.to_mu = nn.Linear(h2, latent_dim)
        self.to_logvar = nn.Linear(h2, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim + c, h2), nn.ReLU(), nn.Linear(h2, h1), nn.ReLU(), nn.Linear(h1, d)
        )

    def condition(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return h

    def encode(self, x, y):
        h = self.encoder(self.condition(x.flatten(1), y))
        return self.to_mu(h), self.to_logvar(h).clamp(-30, 20)

    def decode_logits(self, z, y):
        return self.decoder(self.condition(z, y)).view(-1, *self.image_shape)


class CVAE(VAE):
    """A conditional VAE: a learned label embedding joins the encoder's input and the decoder's latent,
    so one model trained on every class samples any class on request (the natural way to rebalance)."""

    conditional = True

    def __init__(self, image_shape, num_classes: int, *, label_dim: int = 16, **kwargs):
        self.label_dim = label_dim  # read by VAE.__init__ to size the layers
        super().__init__(image_shape, num_classes, **kwargs)
        self.hparams["label_dim"] = label_dim
        self.label_embedding = nn.Embedding(num_classes, label_dim)

    def condition(self, h, y):
        return torch.cat([h, self.label_embedding(y)], dim=1)
