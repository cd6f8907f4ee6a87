"""What every GAN shares: the losses, the two-phase training step, small-data tricks and sampling.

Vanilla, LSGAN, WGAN (weight clipping), WGAN-GP and hinge GANs differ by their loss and
constraint, not by their networks, so `loss` is a parameter and each family only builds a
generator G(z, y) and a discriminator D(x, y) (unconditional ones ignore y). One training step
is two phases (base.Phase): the discriminator's update(s), then the generator's, each with its
own learning rate (TTUR: the discriminator's lr is `lr_d_scale` times the model's) and Adam betas.

For a few hundred training images (Karras et al. 2020, Zhao et al. 2020): an exponential moving
average of the generator's weights is what samples; DiffAugment on real and fake images before
the discriminator (switchable); R1 (real-image gradient) or WGAN-GP penalties where the loss
calls for them. A penalty needs a double backward, which costs more than the rest of the step
(under vmap most of all), so `reg_every` > 1 makes it lazy: a separate update of the
discriminator's optimizer every reg_every steps, on the penalty times reg_every (StyleGAN2).
Generators that use batch norm get standing statistics for the averaged weights.
Images are [0, 1] outside and [-1, 1] inside the networks.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import vjp

from .base import Generator, Phase
from .diffaugment import POLICIES, diff_augment

LOSSES = ("vanilla", "lsgan", "wgan", "wgan_gp", "hinge")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "vanilla":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())
    if kind in ("wgan", "wgan_gp"):
        return fake.mean() - real.mean()
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()  # hinge


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "vanilla":
        return F.softplus(-fake).mean()  # the non-saturating form
    if kind == "lsgan":
        return 0.5 * (fake - 1).pow(2).mean()
    return -fake.mean()  # wgan, wgan_gp, hinge


def input_gradient(fn, x: torch.Tensor) -> torch.Tensor:
    """d sum(fn(x)) / dx, itself differentiable w.r.t. fn's weights (for R1 and gradient penalties).

    Under vmap (per-class models) torch.autograd.grad is not allowed, so torch.func.vjp does it
    there; elsewhere plain autograd does, which also suits spectral norm's in-place power iteration.
    """
    if torch._C._functorch.is_batchedtensor(x):
        out, pullback = vjp(fn, x)
        return pullback(torch.ones_like(out))[0]
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(fn(x).sum(), x, create_graph=True)[0]


class GANBase(Generator):
    """A generator G and a discriminator D trained adversarially; subclasses build the two networks."""

    def __init__(self, image_shape, num_classes: int, *, loss: str = "vanilla", latent_dim: int = 64,
                 diffaugment=("color", "translation", "cutout"), r1: float = 0.0, gp: float = 10.0,
                 n_critic: int = 1, clip: float = 0.01, ema: float = 0.995, lr_d_scale: float = 1.0,
                 betas=(0.5, 0.999), reg_every: int = 1, mode_seeking: float = 0.0, network: dict | None = None):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        diffaugment = list(diffaugment or [])
        if any(p not in POLICIES for p in diffaugment):
            raise ValueError(f"diffaugment: unknown policy in {diffaugment}; choose from {', '.join(POLICIES)}")
        if not 0 <= ema < 1:
            raise ValueError(f"ema must be in [0, 1) (0: off), not {ema}")
        if mode_seeking < 0:
            raise ValueError(f"mode_seeking must be at least 0 (0: off), not {mode_seeking}")
        if reg_every < 1:
            raise ValueError(
                f"reg_every must be at least 1 (1: the penalty in every discriminator update), not {reg_every}"
            )
        super().__init__(image_shape, num_classes, loss=loss, latent_dim=latent_dim, diffaugment=diffaugment,
                         r1=r1, gp=gp, n_critic=n_critic, clip=clip, ema=ema, lr_d_scale=lr_d_scale,
                         betas=list(betas), reg_every=reg_every, mode_seeking=mode_seeking, **(network or {}))
        self.loss_kind, self.latent_dim, self.policy = loss, latent_dim, tuple(diffaugment)
        self.r1, self.gp, self.n_critic, self.clip, self.ema = r1, gp, n_critic, clip, ema
        self.lr_d_scale, self.betas, self.mode_seeking = lr_d_scale, tuple(betas), mode_seeking
        penalized = r1 > 0 or loss == "wgan_gp"
        self.reg_every = reg_every if penalized and reg_every > 1 else 0  # 0: the penalty is in every d update
        self.generator: nn.Module
        self.discriminator: nn.Module

    def phases(self):
        return (
            Phase("d", prefix="discriminator.", lr_scale=self.lr_d_scale, betas=self.betas, repeats=self.n_critic,
                  clip=self.clip if self.loss_kind == "wgan" else None, reg_every=self.reg_every),
            Phase("g", prefix="generator.", betas=self.betas, ema=self.ema or None),
        )

    def _augment(self, x):
        return diff_augment(x, self.policy) if self.policy else x

    def _critic(self, x, y):
        return self.discriminator(self._augment(x), y).flatten()

    def phase_loss(self, phase, x, y):
        z = torch.randn((len(x), self.latent_dim), device=x.device, dtype=x.dtype)
        if phase == "g":
            return self._generator_loss(z, y)
        real = x * 2 - 1
        needs_fake = phase == "d" or self.loss_kind == "wgan_gp"  # R1 alone looks at real images only
        fake = self.generator(z, y).detach() if needs_fake else None
        if phase == "d_reg":  # the lazy penalty alone, scaled by how rarely it comes
            penalty_loss, parts = self._penalty(real, fake, y)
            return penalty_loss * self.reg_every, parts
        real_out, fake_out = self._critic(real, y), self._critic(fake, y)
        loss = discriminator_loss(self.loss_kind, real_out, fake_out)
        parts = {"d_real": real_out.mean().detach(), "d_fake": fake_out.mean().detach()}
        if not self.reg_every:
            penalty_loss, penalty_parts = self._penalty(real, fake, y)
            loss = loss + penalty_loss
            parts.update(penalty_parts)
        return loss, parts

    def _generator_loss(self, z, y):
        """The generator's loss; with `mode_seeking`, MSGAN's term (Mao et al. 2019) against a conditional
        generator that ignores z: the batch's first two halves share labels, and a pair's image distance over its
        latent distance is rewarded."""
        h = len(z) // 2 if self.mode_seeking else 0
        if h:
            y = torch.cat([y[:h], y[:h], y[2 * h:]])
        fake = self.generator(z, y)
        loss = generator_loss(self.loss_kind, self._critic(fake, y))
        if not h:
            return loss, {}
        ratio = ((fake[:h] - fake[h:2 * h]).abs().flatten(1).mean(1) / (z[:h] - z[h:2 * h]).abs().mean(1)).mean()
        return loss + self.mode_seeking / (ratio + 1e-5), {"ms_ratio": ratio.detach()}

    def _penalty(self, real, fake, y):
        """The weighted WGAN-GP and/or R1 penalty (0 when the model has neither), and its raw value."""
        total, parts = 0.0, {}
        if self.loss_kind == "wgan_gp":
            a = torch.rand((len(real), 1, 1, 1), device=real.device, dtype=real.dtype)
            mixed = a * real + (1 - a) * fake
            grad = input_gradient(lambda t: self.discriminator(t, y), mixed)
            penalty = (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
            total = total + self.gp * penalty
            parts["penalty"] = penalty.detach()
        if self.r1 > 0:
            grad = input_gradient(lambda t: self._critic(t, y), real)
            penalty = grad.flatten(1).pow(2).sum(1).mean()
            total = total + 0.5 * self.r1 * penalty
            parts["penalty"] = penalty.detach()
        return total, parts

    @torch.no_grad()
    def after_training(self, x, y) -> None:
        """Standing batch-norm statistics for the averaged generator weights (they were never run)."""
        norms = [m for m in self.generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches below
        self.generator.train()
        for _ in range(4):
            y = torch.randint(0, self.num_classes, (128,), device=self.device)
            self.generator(torch.randn((128, self.latent_dim), device=self.device), y)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        self.generator.eval()

    @torch.no_grad()
    def realness(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The discriminator's score of float images x as real images of class y (higher: more real),
        without DiffAugment: 003's baseline classifies by the most convinced per-class discriminator."""
        return self.discriminator(x * 2 - 1, y).flatten()

    @torch.no_grad()
    def sample(self, labels, gen):
        z = torch.randn((len(labels), self.latent_dim), generator=gen, device=gen.device).to(self.device)
        out = [self.generator(z[i:i + 1024], labels[i:i + 1024].to(self.device)) for i in range(0, len(z), 1024)]
        return (torch.cat(out) + 1) / 2
