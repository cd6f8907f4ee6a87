"""Classifiers and the one training loop every arm of a comparison shares.

Each arm of a cell (baseline, classic, every generator, filtered or not, mixed or synthetic only) is
trained by the same rule counted in optimizer steps: Adam, a step cap, validation on the real
validation split every fixed number of steps, a patience in steps, and the best weights restored. A
mixed set twice the size of the real one gets the same number of steps, so a gain cannot come from
one arm training longer, or stopping later, than another.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import board, memory
from . import streams as random_streams
from .checkpoint import Resume, Snapshots
from .data import to_float
from .device import PRECISION_SETTINGS, resolve_precision
from .errors import GenaugError
from .progress import Progress


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

    pixel_embedding = True  # probes of its test embeddings are the same for every arm (the report says so)

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
    """The one training rule of every arm of a cell, counted in optimizer steps (the effort preset sets
    the step budget). A bigger training set gets no more steps and no longer patience than a smaller one."""

    max_steps: int = 12000  # optimizer steps at most
    eval_every: int = 50  # optimizer steps between validations
    patience_steps: int = 1000  # optimizer steps without a better validation accuracy before stopping
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    # Decay of the weights' moving average, which is what is validated and kept (0: off). Warmed up as
    # (1 + n) / (10 + n), it averages about the last tenth of the steps so far, up to 1 / (1 - ema).
    ema: float = 0.998
    real_fraction: float | None = None  # real images' share of a mixed batch; None: their share of the set
    # Shorter stopping rules whose outcome the run also records ({"patience_steps", "max_steps"}): the same
    # trajectory stopped earlier, so a run shows what a shorter patience would have changed (None: half
    # the patience, same cap).
    convergence_checks: list | None = None
    # "bf16": the training step's forward pass and loss under bfloat16 autocast (a CPU with avx512_bf16 or
    # AMX, or a GPU, runs it faster; any other CPU emulates it, several times slower); the weights, the
    # optimizer and every validation stay float32. "auto": bf16 where the device computes it natively, else fp32.
    precision: str = "fp32"

    def __post_init__(self):
        if self.precision not in PRECISION_SETTINGS:
            raise GenaugError(f"precision {self.precision!r}: use one of {', '.join(PRECISION_SETTINGS)}")
        if not 0 < self.eval_every <= self.patience_steps:
            raise GenaugError(f"eval_every {self.eval_every} must be between 1 and patience_steps "
                              f"{self.patience_steps}")
        if self.convergence_checks is None:
            self.convergence_checks = [{"patience_steps": self.patience_steps // 2, "max_steps": self.max_steps}]
        for check in self.convergence_checks:
            if check["patience_steps"] > self.patience_steps or check["max_steps"] > self.max_steps:
                raise GenaugError(f"convergence check {check}: a shorter rule than patience_steps "
                                  f"{self.patience_steps} and max_steps {self.max_steps} is needed")

    @classmethod
    def steps_per_pass(cls, n_images: int, batch_size: int | None = None) -> int:
        """Optimizer steps in one pass over n images (the last batch may be short)."""
        return -(-n_images // (batch_size or cls.batch_size))

    @classmethod
    def passes(cls, n_images: int, passes: int, **settings) -> "TrainConfig":
        """`passes` passes over n images, validated after each, with no early stop and no averaging: for one
        network that is compared with no other arm (the reference classifier, a benchmark)."""
        per = cls.steps_per_pass(n_images, settings.get("batch_size"))
        return cls(**{"ema": 0.0, **settings, "max_steps": passes * per, "eval_every": per,
                      "patience_steps": passes * per, "convergence_checks": []})


@dataclass
class TrainResult:
    best_step: int
    steps_run: int
    best_val_accuracy: float
    stopped_by: str = "cap"  # "patience" or "cap" (the step cap ended training)
    history: list[dict] = field(default_factory=list)
    # Per convergence check: where that shorter rule stopped and what it kept (its weights in check_states).
    checks: list[dict] = field(default_factory=list)
    check_states: list[dict] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        """The result without weights: what a snapshot and metrics.json record."""
        return {k: v for k, v in asdict(self).items() if k != "check_states"}

    def progress_note(self) -> str:
        """The last validation, for the progress line."""
        last = self.history[-1]
        return (f"loss {last['train_loss']:.4f} val_acc {last['val_accuracy']:.4f} "
                f"(best {self.best_val_accuracy:.4f} @ {self.best_step})")


def averaged(model: nn.Module, decay: float):
    """The model's exponential moving average (torch's AveragedModel, buffers included), with the decay warmed
    up as min(decay, (1 + n) / (10 + n)): a short run's average is not its initial weights, and a long one's
    spans about its last tenth (a slowly improving arm, such as classic augmentation, gets a steady signal)."""
    from torch.optim.swa_utils import AveragedModel

    def ema(averaged_param, param, n):
        return torch.lerp(param, averaged_param, min(decay, (1 + float(n)) / (10 + float(n))))

    return AveragedModel(model, avg_fn=ema, use_buffers=True)


def balanced_pass(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One pass of class-balanced oversampling (positions into `labels`, shuffled): every class present
    gives as many draws as the largest class has images, each of its images drawn floor or ceil times that
    share (whole random orders of the class, repeated, the last cut short)."""
    classes, counts = labels.unique(return_counts=True)
    top = int(counts.max())
    parts = []
    for c, n in zip(classes.tolist(), counts.tolist()):
        members = (labels == c).nonzero().flatten()
        orders = torch.argsort(torch.rand(-(-top // n), n, generator=gen), dim=1)  # one random order per repeat
        parts.append(members[orders.flatten()[:top]])
    drawn = torch.cat(parts)
    return drawn[torch.randperm(len(drawn), generator=gen)]


class IndexStream:
    """Indices into one source of training images, in a fresh random order each pass, read without a
    break at pass boundaries (a batch may end one pass and start the next). With `labels` (the source's,
    on the CPU) each pass is class-balanced instead (balanced_pass): the oversampled arm's real images."""

    def __init__(self, start: int, count: int, gen: torch.Generator, labels: torch.Tensor | None = None):
        self.start, self.count, self.gen, self.labels = start, count, gen, labels
        self.order, self.position = None, 0

    def _new_pass(self) -> torch.Tensor:
        if self.labels is None:
            return torch.randperm(self.count, generator=self.gen) + self.start
        return balanced_pass(self.labels, self.gen) + self.start

    def take(self, k: int) -> torch.Tensor:
        parts = []
        while k > 0:
            if self.order is None or self.position == len(self.order):
                self.order, self.position = self._new_pass(), 0
            part = self.order[self.position:self.position + k]
            self.position += len(part)
            k -= len(part)
            parts.append(part)
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)

    def state_dict(self) -> dict:
        return {"order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.position = state["order"], state["position"]


def real_in_batch(step: int, batch_size: int, fraction: Fraction) -> int:
    """Real images in batch `step` (0-based) so that the running share of real images is `fraction`
    exactly, up to one image: floor((t+1) B f) - floor(t B f)."""
    num, den = fraction.numerator * batch_size, fraction.denominator
    return (step + 1) * num // den - step * num // den


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


def _check_memory(model: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, cfg: TrainConfig, log) -> None:
    """Refuse, before the first step, a guarded job whose batch would pass its rule's memory (memory.check_step).
    The probe steps a copy of the model on the set's first rows, repeated up to the batch."""
    if memory.limit() is None:
        return
    probe = copy.deepcopy(model)
    probe.train()

    def run_step(b):
        idx = torch.arange(b, device=train_x.device) % len(train_x)
        with torch.autocast(train_x.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            loss = F.cross_entropy(probe(to_float(train_x[idx])), train_y[idx])
        loss.backward()
        probe.zero_grad(set_to_none=True)

    # state: Adam's two moments, the weight average and the best weights kept
    memory.check_step(run_step, cfg.batch_size, params=model.parameters(), state_copies=4, device=train_x.device,
                      what="classifier", log=log)


def _real_fraction(n: int, n_real: int, cfg: TrainConfig) -> Fraction:
    """The share of real images in every batch: the set's own, or cfg.real_fraction when given."""
    if n == 0:
        raise GenaugError("the classifier's training set is empty")
    if cfg.real_fraction is None:
        fraction = Fraction(n_real, n)
    else:
        fraction = Fraction(cfg.real_fraction).limit_denominator(10**6)
    if not 0 <= fraction <= 1 or (fraction > 0 and n_real == 0) or (fraction < 1 and n_real == n):
        raise GenaugError(f"real_fraction {float(fraction)}: a batch can only draw from sources it has "
                          f"({n_real} real, {n - n_real} synthetic images)")
    return fraction


class _Validation:
    """The stopping rule's bookkeeping: scores on the validation split, the best weights so far, and where each
    convergence check (a shorter rule) would have stopped and what it would have kept."""

    def __init__(self, cfg: TrainConfig, scored: nn.Module, val_x: torch.Tensor, val_y: torch.Tensor):
        self.cfg, self.scored, self.val_x, self.val_y = cfg, scored, val_x, val_y
        self.best = TrainResult(best_step=0, steps_run=0, best_val_accuracy=-1.0,
                                checks=[None] * len(cfg.convergence_checks))
        self.best_state, self.check_states = None, [None] * len(cfg.convergence_checks)

    def state_dict(self) -> dict:
        return {"best": self.best.as_dict(), "best_state": self.best_state, "check_states": self.check_states}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_state = TrainResult(**state["best"]), state["best_state"]
        self.check_states = state["check_states"]

    def score(self, step: int, train_loss: float, seconds: float) -> bool:
        """Validate at `step`; True when patience has run out."""
        best = self.best
        val_acc = (predict(self.scored, self.val_x).argmax(1) == self.val_y).float().mean().item()
        best.history.append({"step": step, "train_loss": train_loss, "val_accuracy": val_acc, "seconds": seconds})
        if val_acc > best.best_val_accuracy:
            best.best_val_accuracy, best.best_step = val_acc, step
            self.best_state = {k: v.detach().clone() for k, v in self.scored.state_dict().items()}
        board.current().scalars(step, {"train_loss": train_loss, "val_accuracy": val_acc}, prefix="classifier/")
        for i, check in enumerate(self.cfg.convergence_checks):
            if best.checks[i] is None and (step - best.best_step >= check["patience_steps"]
                                           or step >= check["max_steps"]):
                self._stop_check(i, step)
        if step - best.best_step >= self.cfg.patience_steps:
            best.stopped_by = "patience"
            return True
        return False

    def _stop_check(self, i: int, step: int) -> None:
        self.best.checks[i] = {**self.cfg.convergence_checks[i], "stopped_at": step, "best_step": self.best.best_step,
                               "best_val_accuracy": self.best.best_val_accuracy}
        self.check_states[i] = self.best_state

    def finish(self, step: int) -> TrainResult:
        """The result after `step` steps; a check that never stopped earlier ends with the run."""
        self.best.steps_run = step
        for i, check in enumerate(self.best.checks):
            if check is None:
                self._stop_check(i, step)
        self.best.check_states = self.check_states
        return self.best


class _RunningLoss:
    """The mean training loss since the last validation (each image weighted once), a snapshot's object."""

    def __init__(self):
        self.total, self.seen = 0.0, 0

    def add(self, loss: float, n: int) -> None:
        self.total, self.seen = self.total + loss * n, self.seen + n

    def pop(self) -> float:
        mean, self.total, self.seen = self.total / self.seen, 0.0, 0
        return mean

    def state_dict(self) -> dict:
        return {"total": self.total, "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        self.total, self.seen = state["total"], state["seen"]


def _update(model, opt, x_uint8, y, precision: str, augment, gen, step: int) -> float:
    """One optimizer step on one batch (augmented when the arm augments); returns its loss."""
    xb = to_float(x_uint8)
    if augment is not None:
        xb = augment(xb, gen)
    with torch.autocast(x_uint8.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = F.cross_entropy(model(xb), y)
    if not torch.isfinite(loss):
        raise GenaugError(f"classifier loss became {loss.item()} at step {step}; lower the learning rate")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def fit_classifier(model: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
                   val_y: torch.Tensor, cfg: TrainConfig, *, seed: int, n_real: int | None = None,
                   augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                   snapshots: Snapshots | None = None, oversample: bool = False, log=sys.stderr) -> TrainResult:
    """Train on uint8 (N, C, H, W) tensors already on the model's device and leave the model holding the
    best validated weights; the result holds, per convergence check, the weights that shorter rule kept.

    The first `n_real` images (default all) are real, the rest synthetic. Batch t draws real_in_batch(t)
    images from the real ones and the rest from the synthetic ones, each source in its own reshuffled order
    (with `oversample`, the real one in class-balanced passes).
    Every `eval_every` steps the moving average of the weights is scored on the validation split; training
    stops `patience_steps` steps after the best score, or at `max_steps`, and the best average is kept.
    With `snapshots`, everything needed to continue exactly (weights, average, optimizer, RNGs, both
    sources' orders and positions, the best weights so far) is saved every `snapshots.every` steps.
    """
    n = len(train_x)
    n_real = n if n_real is None else int(n_real)
    fraction = _real_fraction(n, n_real, cfg)
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, train_x.device))
    _check_memory(model, train_x, train_y, cfg, log)
    gen = torch.Generator(device="cpu").manual_seed(random_streams.seed("classifier.batches", seed))
    real_labels = train_y[:n_real].cpu() if oversample else None
    streams = IndexStream(0, n_real, gen, real_labels), IndexStream(n_real, n - n_real, gen)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    average = averaged(model, cfg.ema) if cfg.ema else None
    validation = _Validation(cfg, average.module if average is not None else model, val_x, val_y)
    running = _RunningLoss()
    objects = {"model": model, "optimizer": opt, "real_order": streams[0], "synthetic_order": streams[1],
               "validation": validation, "running_loss": running,
               **({"average": average} if average is not None else {})}
    resume = Resume(snapshots, objects, (gen,))
    step = resume.step
    progress = Progress(cfg.max_steps, start=step, cap=True)
    model.train()
    while step < cfg.max_steps:
        k = real_in_batch(step, cfg.batch_size, fraction)
        idx = torch.cat([streams[0].take(k), streams[1].take(cfg.batch_size - k)]).to(train_x.device)
        loss = _update(model, opt, train_x[idx], train_y[idx], cfg.precision, augment, gen, step)
        if average is not None:
            average.update_parameters(model)
        running.add(loss, len(idx))
        step += 1
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            stop = validation.score(step, running.pop(), resume.seconds())
            model.train()
            print(progress.line(step, validation.best.progress_note()), file=log, flush=True)
            if stop:
                break
        elif progress.due(step):
            print(progress.line(step), file=log, flush=True)
        resume.save_if_due(step)
    result = validation.finish(step)
    model.load_state_dict(validation.best_state)
    return result
