"""Classifiers and the one training loop every arm of a comparison shares.

Each arm (baseline, classic, every generator) is trained by the same rule: Adam, an epoch cap,
and early stopping on the real validation split with a patience, restoring the best epoch.
A gain therefore cannot come from one arm training longer than another.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import Snapshots, rng_state, set_rng_state
from .data import to_float
from .errors import GenaugError


class CNN(nn.Module):
    """000's classifier: two 3x3 convs, a 2x2 max-pool, three 128-unit FC layers, then the output layer.

    At 28x28x1 and 10 classes it has 1,658,890 parameters, as 000's Table 1 reports. The last hidden
    layer is the 128-d embedding the probes read. Dropout (ours; 000 had none) regularizes the
    large first FC layer, which small training sets otherwise overfit.
    """

    embed_dim = 128

    def __init__(self, in_channels: int, image_size: int, num_classes: int, dropout: float = 0.3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (image_size // 2) ** 2, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, self.embed_dim)
        self.out = nn.Linear(self.embed_dim, num_classes)
        self.dropout = dropout

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.5) / 0.5
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2).flatten(1)
        x = F.relu(self.fc1(F.dropout(x, self.dropout, self.training)))
        x = F.relu(self.fc2(F.dropout(x, self.dropout, self.training)))
        return F.relu(self.fc3(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))


class ResNet18(nn.Module):
    """004's ResNet-18 (torchvision's), adapted to 28-32 px as for CIFAR: a 3x3 stride-1 stem and no
    initial max-pool, so the four stages see 28, 14, 7 and 4 px instead of collapsing to 1 px.
    1 or 3 input channels. The 512-d global-average-pooled features are its embedding."""

    embed_dim = 512

    def __init__(self, in_channels: int, image_size: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.out, net.fc = net.fc, nn.Identity()
        self.body, self.dropout = net, dropout

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - 0.5) / 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.dropout(self.embed(x), self.dropout, self.training))


class Softmax(nn.Module):
    """004's softmax regression: one linear layer on the pixels. Its embedding is the pixels
    themselves, so its probes measure how separable the raw images are."""

    def __init__(self, in_channels: int, image_size: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.embed_dim = in_channels * image_size**2
        self.out = nn.Linear(self.embed_dim, num_classes)
        self.dropout = dropout

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - 0.5) / 0.5).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.dropout(self.embed(x), self.dropout, self.training))


CLASSIFIERS = {"cnn": CNN, "resnet18": ResNet18, "softmax": Softmax}


def build_classifier(name: str, image_shape, num_classes: int, **kwargs) -> nn.Module:
    """Instantiate a registered classifier for images of `image_shape` (C, H, W)."""
    if name not in CLASSIFIERS:
        raise GenaugError(f"unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}")
    c, h, w = image_shape
    if h != w:
        raise GenaugError(f"classifier {name!r} needs square images, got {h}x{w}")
    return CLASSIFIERS[name](c, h, num_classes, **kwargs)


@dataclass
class TrainConfig:
    """Optimisation settings shared by all arms (epochs come from the effort preset)."""

    max_epochs: int = 30
    patience: int = 5  # epochs without a better validation accuracy before stopping
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0


@dataclass
class TrainResult:
    best_epoch: int
    epochs_run: int
    best_val_accuracy: float
    history: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def predict(model: nn.Module, x_uint8: torch.Tensor, batch_size: int = 64, with_embeddings: bool = False):
    """Logits (and 128-d embeddings) for uint8 images, in eval mode, batched.

    Small batches keep the conv activations in cache: on one CPU core, batches of 64 score
    1.7x more images per second than batches of 1,000 (bench: 1,359 vs 787 img/s).
    """
    model.eval()
    logits, embeds = [], []
    for i in range(0, len(x_uint8), batch_size):
        e = model.embed(to_float(x_uint8[i : i + batch_size]))
        logits.append(model.out(e))
        if with_embeddings:
            embeds.append(e)
    logits = torch.cat(logits) if logits else torch.empty(0)
    return (logits, torch.cat(embeds)) if with_embeddings else logits


def fit_classifier(
    model: nn.Module,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    cfg: TrainConfig,
    *,
    seed: int,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    snapshots: Snapshots | None = None,
    log=sys.stderr,
) -> TrainResult:
    """Train on uint8 (N, C, H, W) tensors already on the model's device; keep the best validation epoch.

    With `snapshots`, everything needed to continue (weights, optimizer, RNGs, the epoch's batch order and
    position, the best epoch so far) is saved every `snapshots.every` steps, and resumed from.
    """
    if len(train_x) == 0:
        raise GenaugError("the classifier's training set is empty")
    device = train_x.device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best = TrainResult(best_epoch=-1, epochs_run=0, best_val_accuracy=-1.0)
    best_state, step, first_epoch, order, start, total, seen, elapsed = None, 0, 0, None, 0, 0.0, 0, 0.0
    state = snapshots.load() if snapshots else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"], gen)
        best, best_state = TrainResult(**state["best"]), state["best_state"]
        step, first_epoch, order, start = state["step"], state["epoch"], state["order"].to(device), state["position"]
        total, seen, elapsed = state["total"], state["seen"], state["elapsed"]
    for epoch in range(first_epoch, cfg.max_epochs):
        t0 = time.perf_counter() - elapsed
        model.train()
        if order is None:
            order = torch.randperm(len(train_x), generator=gen).to(device)
        for i in range(start, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            xb = to_float(train_x[idx])
            if augment is not None:
                xb = augment(xb, gen)
            loss = F.cross_entropy(model(xb), train_y[idx])
            if not torch.isfinite(loss):
                raise GenaugError(f"classifier loss became {loss.item()} at epoch {epoch}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            step += 1
            if snapshots is not None and snapshots.due(step):
                snapshots.save({
                    "model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rng_state(gen),
                    "best": best.as_dict(), "best_state": best_state, "step": step, "epoch": epoch,
                    "order": order.cpu(), "position": i + cfg.batch_size, "total": total, "seen": seen,
                    "elapsed": time.perf_counter() - t0,
                })
        val_acc = (predict(model, val_x).argmax(1) == val_y).float().mean().item()
        best.history.append(
            {"epoch": epoch, "train_loss": total / seen, "val_accuracy": val_acc, "seconds": time.perf_counter() - t0}
        )
        best.epochs_run = epoch + 1
        if val_acc > best.best_val_accuracy:
            best.best_val_accuracy, best.best_epoch = val_acc, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        print(
            f"epoch {epoch + 1}/{cfg.max_epochs} loss {total / seen:.4f} val_acc {val_acc:.4f} "
            f"(best {best.best_val_accuracy:.4f} @ {best.best_epoch + 1})",
            file=log,
            flush=True,
        )
        order, start, total, seen, elapsed = None, 0, 0.0, 0, 0.0
        if epoch - best.best_epoch >= cfg.patience:
            break
    model.load_state_dict(best_state)
    return best
