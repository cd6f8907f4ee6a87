"""VQ-VAE (000) with a learned class-conditional prior over its codes, in an MLP and a conv variant.

The encoder maps an image to L code vectors; each is replaced by its nearest entry of a learned
codebook (straight-through gradient), and the decoder maps the quantized codes back to an image.
The loss is the reconstruction's summed binary cross-entropy, the codebook loss
||sg[z] - e||^2 and `commitment` times ||z - sg[e]||^2 (van den Oord et al., 2017).

000 sampled its VQ-VAE only by reconstructing real images. To make new images, a small causal
transformer learns p(code_1..code_L | class) on the (detached) codes of the training images, in
the same optimizer steps as the autoencoder. Sampling draws a code sequence for the requested
class token by token and decodes it, so the model is `conditional`; `reconstruct` also works.

  arch: mlp   000's layout: three dense layers to L = code_slots vectors and three back.
  arch: conv  two stride-2 convolutions to an (H/4) x (W/4) grid of codes (L = 49 at 28x28),
              transposed convolutions back.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Generator


class CodePrior(nn.Module):
    """p(codes | class): a causal transformer whose first input token is the class."""

    def __init__(self, length: int, codebook_size: int, num_classes: int, *, dim: int = 64, layers: int = 2,
                 heads: int = 4):
        super().__init__()
        self.length = length
        self.codes = nn.Embedding(codebook_size, dim)
        self.classes = nn.Embedding(num_classes, dim)
        self.position = nn.Parameter(torch.randn(length, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, codebook_size)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(length), persistent=False)

    def logits(self, idx: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Logits for code i given the class and codes < i, for i < idx.shape[1] + 1 (at most L)."""
        h = torch.cat([self.classes(y)[:, None], self.codes(idx)], dim=1)[:, : self.length]
        n = h.shape[1]
        h = self.body(h + self.position[:n], mask=self.mask[:n, :n], is_causal=True)
        return self.head(h)

    def nll(self, idx: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of whole code sequences, in nats per image."""
        logits = self.logits(idx, y)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), idx.reshape(-1), reduction="sum") / len(idx)

    @torch.no_grad()
    def sample(self, y: torch.Tensor, gen: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        idx = torch.empty((len(y), 0), dtype=torch.long, device=y.device)
        for i in range(self.length):
            logits = self.logits(idx, y)[:, i] / temperature
            # Gumbel-max with noise from the seeded CPU generator: the same draws on any device.
            u = torch.rand(logits.shape, generator=gen, device=gen.device).to(logits.device)
            gumbel = -torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))
            idx = torch.cat([idx, (logits + gumbel).argmax(1, keepdim=True)], dim=1)
        return idx


class VQVAE(Generator):
    conditional = True  # through the class-conditional prior
    can_reconstruct = True

    def __init__(self, image_shape, num_classes: int, *, arch: str = "mlp", hidden=(256, 128), code_slots: int = 16,
                 channels=(16, 32), code_dim: int = 16, codebook_size: int = 64, commitment: float = 0.25,
                 prior_dim: int = 64, prior_layers: int = 2, prior_heads: int = 4, prior_batch: int = 32,
                 temperature: float = 1.0):
        super().__init__(image_shape, num_classes, arch=arch, hidden=list(hidden), code_slots=code_slots,
                         channels=list(channels), code_dim=code_dim, codebook_size=codebook_size,
                         commitment=commitment, prior_dim=prior_dim, prior_layers=prior_layers,
                         prior_heads=prior_heads, prior_batch=prior_batch, temperature=temperature)
        c, h, w = self.image_shape
        self.arch, self.code_dim, self.commitment, self.temperature = arch, code_dim, commitment, temperature
        self.prior_batch = prior_batch
        if arch == "mlp":
            d, (h1, h2) = math.prod(self.image_shape), hidden
            self.length = code_slots
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                                         nn.Linear(h2, code_slots * code_dim))
            self.decoder = nn.Sequential(nn.Linear(code_slots * code_dim, h2), nn.ReLU(), nn.Linear(h2, h1),
                                         nn.ReLU(), nn.Linear(h1, d))
        elif arch == "conv":
            if h % 4 or w % 4:
                raise ValueError(f"vqvae arch conv needs image sides divisible by 4, got {h}x{w}")
            c1, c2 = channels
            self.grid = (h // 4, w // 4)
            self.length = self.grid[0] * self.grid[1]
            self.encoder = nn.Sequential(nn.Conv2d(c, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),
                                         nn.Conv2d(c2, code_dim, 1))
            self.decoder = nn.Sequential(nn.Conv2d(code_dim, c2, 3, padding=1), nn.ReLU(),
                                         nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),
                                         nn.ConvTranspose2d(c1, c, 4, 2, 1))
        else:
            raise ValueError(f"unknown vqvae arch {arch!r}; choose mlp or conv")
        self.codebook = nn.Embedding(codebook_size, code_dim)
        nn.init.uniform_(self.codebook.weight, -1 / codebook_size, 1 / codebook_size)
        self.prior = CodePrior(self.length, codebook_size, num_classes, dim=prior_dim, layers=prior_layers,
                               heads=prior_heads)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous codes, shape (N, L, code_dim)."""
        z = self.encoder(x)
        if self.arch == "mlp":
            return z.view(len(x), self.length, self.code_dim)
        return z.flatten(2).transpose(1, 2)

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook entry for every code vector, shape (N, L)."""
        e = self.codebook.weight
        dist = z.pow(2).sum(-1, keepdim=True) - 2 * z @ e.t() + e.pow(2).sum(-1)
        return dist.argmin(-1)

    def decode_logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self._decode(self.codebook(idx))

    def _decode(self, q: torch.Tensor) -> torch.Tensor:
        if self.arch == "mlp":
            return self.decoder(q.flatten(1)).view(-1, *self.image_shape)
        return self.decoder(q.transpose(1, 2).reshape(len(q), self.code_dim, *self.grid))

    def loss(self, x, y):
        z = self.encode(x)
        idx = self.quantize(z.detach())
        q = self.codebook(idx)
        codebook = (q - z.detach()).pow(2).sum() / len(x)
        commit = (z - q.detach()).pow(2).sum() / len(x)
        recon = F.binary_cross_entropy_with_logits(self._decode(z + (q - z).detach()), x, reduction="sum") / len(x)
        # The prior learns from the first prior_batch codes of each (random) batch: it costs more per
        # sequence than the autoencoder per image, and sees every image many times over anyway.
        prior = self.prior.nll(idx[: self.prior_batch], y[: self.prior_batch])
        usage = torch.bincount(idx.flatten(), minlength=self.codebook.num_embeddings).float() / idx.numel()
        perplexity = torch.exp(-(usage * torch.log(usage + 1e-10)).sum())
        total = recon + codebook + self.commitment * commit + prior
        return total, {"recon": recon.detach(), "codebook": codebook.detach(), "commit": commit.detach(),
                       "prior_nll": prior.detach(), "code_perplexity": perplexity.detach()}

    @torch.no_grad()
    def sample_codes(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return self.prior.sample(labels.to(self.device), gen, self.temperature)

    @torch.no_grad()
    def sample(self, labels, gen):
        return torch.sigmoid(self.decode_logits(self.sample_codes(labels, gen)))

    @torch.no_grad()
    def reconstruct(self, x, y, gen):
        return torch.sigmoid(self.decode_logits(self.quantize(self.encode(x))))
