"""Building, training, saving and loading the generator a config entry names.

Which class a family name means, and what it can do, is declared once in genaug/families.py (torch-free):
adding a built-in family is its module here, one registry entry there, and its tests.
"""

from __future__ import annotations

import pickle
import sys

import torch
import torch.nn as nn

from .. import families
from ..checkpoint import Snapshots
from ..device import resolve_precision
from ..errors import GenaugError, rebuild_hint
from ..io import CorruptFile, load_torch, save_torch
from .base import Generator, PerClass, fit

STRATEGIES = families.STRATEGIES


def label_strategy(spec: dict) -> str:
    """How the model's synthetic images get labels: per_class, conditional, reconstruct or pseudo_label."""
    return families.label_strategy(spec)


def family_class(name: str) -> type[Generator]:
    """The class of a family (built in, installed, or a user's by import path)."""
    return families.get(name).load()


def build(spec: dict, image_shape, num_classes: int) -> nn.Module:
    """A fresh, untrained model for `spec` (a PerClass wrapper when per_class is set)."""
    family = family_class(spec["family"])
    hparams = spec.get("hparams", {})
    try:
        if label_strategy(spec) == "per_class":
            model = PerClass([family(image_shape, num_classes, **hparams) for _ in range(num_classes)])
        else:
            model = family(image_shape, num_classes, **hparams)
    except (TypeError, ValueError) as err:  # an unknown hyperparameter name, or a value the family refuses
        raise GenaugError(f"model {spec.get('name', spec['family'])!r} (family {spec['family']!r}): "
                          f"bad hyperparameters {hparams} ({err})") from err
    # The arithmetic it trains in, for the families that sample in it too; they do so only on a CPU, so `auto`
    # resolves against the CPU of the job that builds it (a sample job's, not the training job's).
    precision = resolve_precision(spec.get("train", {}).get("precision", Generator.precision), torch.device("cpu"))
    for member in model.modules():
        if isinstance(member, Generator):
            member.precision = precision
    return model


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, train_cfg: dict, *, seed: int,
          snapshots: Snapshots | None = None, log=sys.stderr):
    """Train a built model on float images (resuming from `snapshots` if it holds this job); returns the loss log."""
    kwargs = dict(steps=train_cfg["steps"], batch_size=train_cfg["batch_size"], lr=train_cfg["lr"],
                  precision=train_cfg.get("precision", "fp32"), snapshots=snapshots)
    if isinstance(model, PerClass) or callable(getattr(model, "fit", None)):  # a user's class may train itself
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


__all__ = ["Generator", "PerClass", "build", "train", "save", "load", "label_strategy"]
