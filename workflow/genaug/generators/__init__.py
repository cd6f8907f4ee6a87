"""The generator registry: a config entry names a family; this builds, trains, saves and loads it.

Adding a family means adding a module with a `Generator` subclass and one line in FAMILIES
(plus its hyperparameters in workflow/schemas/config.schema.yaml).
"""

from __future__ import annotations

import pickle
import sys

import torch
import torch.nn as nn

from ..checkpoint import Snapshots
from ..errors import GenaugError, rebuild_hint
from ..io import CorruptFile, load_torch, save_torch
from .base import Generator, PerClass, fit
from .biggan import BigGAN
from .conv_vae import ConvVAE
from .diffusion import CDDPM, DDPM, CLIPGuided
from .gan_nets import CGAN, GAN
from .stylegan import StyleGAN
from .vae import CVAE, VAE
from .vqvae import VQVAE

FAMILIES: dict[str, type[Generator]] = {
    "vae": VAE, "conv_vae": ConvVAE, "cvae": CVAE, "vqvae": VQVAE,
    "gan": GAN, "cgan": CGAN, "biggan": BigGAN, "stylegan": StyleGAN,
    "ddpm": DDPM, "cddpm": CDDPM, "clip_guided": CLIPGuided,
}
STRATEGIES = ("per_class", "conditional", "reconstruct", "pseudo_label")


def label_strategy(spec: dict) -> str:
    """How the model's synthetic images get labels: per_class, conditional, reconstruct or pseudo_label."""
    family = family_class(spec["family"])
    if spec.get("per_class"):
        if family.conditional:
            raise GenaugError(f"family {spec['family']!r} is conditional; per_class: true makes no sense for it")
        return "per_class"
    strategy = spec.get("label_strategy") or ("conditional" if family.conditional else None)
    if strategy is None:
        raise GenaugError(
            f"family {spec['family']!r} is unconditional: set per_class: true or label_strategy: reconstruct "
            "or pseudo_label"
        )
    if strategy == "conditional" and not family.conditional:
        raise GenaugError(f"family {spec['family']!r} is unconditional and cannot use label_strategy: conditional")
    if strategy == "reconstruct" and not family.can_reconstruct:
        raise GenaugError(f"family {spec['family']!r} cannot reconstruct images; use per_class: true")
    if strategy not in STRATEGIES:
        raise GenaugError(f"unknown label_strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    return strategy


def family_class(name: str) -> type[Generator]:
    if name not in FAMILIES:
        raise GenaugError(f"unknown generator family {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def build(spec: dict, image_shape, num_classes: int) -> nn.Module:
    """A fresh, untrained model for `spec` (a PerClass wrapper when per_class is set)."""
    family = family_class(spec["family"])
    hparams = spec.get("hparams", {})
    try:
        if label_strategy(spec) == "per_class":
            return PerClass([family(image_shape, num_classes, **hparams) for _ in range(num_classes)])
        return family(image_shape, num_classes, **hparams)
    except (TypeError, ValueError) as err:  # an unknown hyperparameter name, or a value the family refuses
        raise GenaugError(f"model {spec.get('name', spec['family'])!r} (family {spec['family']!r}): "
                          f"bad hyperparameters {hparams} ({err})") from err


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, train_cfg: dict, *, seed: int,
          snapshots: Snapshots | None = None, log=sys.stderr):
    """Train a built model on float images (resuming from `snapshots` if it holds this job); returns the loss log."""
    kwargs = dict(steps=train_cfg["steps"], batch_size=train_cfg["batch_size"], lr=train_cfg["lr"],
                  precision=train_cfg.get("precision", "fp32"), snapshots=snapshots)
    if isinstance(model, PerClass):
        return model.fit(x, y, seed=seed, log=log, **kwargs)
    return fit(model, x, y, seed=seed, log=log, name="generator", **kwargs)


def save(path, model: nn.Module | None, spec: dict, meta: dict, history: list[dict], diverged: str | None = None):
    """A self-describing checkpoint: the spec to rebuild the model, its weights and its loss log.

    A model whose training diverged is saved without weights and with the reason (`diverged`), so
    its cell is recorded as diverged downstream instead of stopping the grid."""
    state = None if diverged else model.state_dict()
    save_torch(path, {"spec": spec, "meta": meta, "history": history, "state_dict": state, "diverged": diverged})


def load(path, device="cpu") -> tuple[nn.Module | None, dict]:
    """Rebuild a model from a checkpoint written by save(); returns (model, checkpoint dict).

    The model is None when the checkpoint records a diverged training (ckpt["diverged"] says why)."""
    try:
        ckpt = load_torch(path, map_location=device)
        meta = ckpt["meta"]
        if ckpt.get("diverged"):
            return None, ckpt
        model = build(ckpt["spec"], meta["image_shape"], meta["num_classes"])
    except CorruptFile as err:
        raise GenaugError(f"{err}; {rebuild_hint(path)}") from err
    except (OSError, KeyError, TypeError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise GenaugError(
            f"{path}: not a readable generator checkpoint ({type(err).__name__}: {err}); {rebuild_hint(path)}"
        ) from err
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0]
        raise GenaugError(
            f"{path}: its weights do not fit the {ckpt['spec'].get('family')!r} model its spec describes ({first}); "
            f"{rebuild_hint(path)}"
        ) from err
    return model.to(device).eval(), ckpt


__all__ = ["FAMILIES", "Generator", "PerClass", "build", "train", "save", "load", "label_strategy"]
