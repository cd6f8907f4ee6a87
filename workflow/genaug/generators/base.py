"""What every generator family implements, the per-class wrapper, and the one shared training loop.

A family is an nn.Module subclass of `Generator`: `loss(x, y)` gives one batch's objective and
`sample(labels, gen)` makes images. Training is shared (`fit`), so families differ only in their
network and objective. `PerClass` turns any unconditional family into k independent models and
trains all k at once: their weights are stacked and the loss is vmapped over classes (torch.func),
so ten small per-class models cost about one step's overhead per step, not ten.
Adam is elementwise, so one Adam over stacked weights equals k separate Adams.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from torch.func import functional_call, stack_module_state, vmap

from .. import board, memory, streams
from ..checkpoint import Resume, Snapshots
from ..device import resolve_precision
from ..errors import Diverged, GenaugError
from ..progress import Progress


@dataclass(frozen=True)
class Phase:
    """One optimizer's update within a training step. Likelihood models have one; a GAN has two
    (the critic's, then the generator's), each with its own learning rate (TTUR) and Adam betas."""

    name: str = "loss"
    prefix: str | None = None  # the parameters whose names start with this (None: all of them)
    lr_scale: float = 1.0  # this phase's lr is the model's lr times this
    betas: tuple[float, float] = (0.9, 0.999)
    repeats: int = 1  # updates per step (a WGAN critic takes several)
    clip: float | None = None  # clamp the weights to [-clip, clip] after each update (WGAN)
    ema: float | None = None  # keep an exponential moving average of the weights; training ends with it
    # Lazy regularization (Karras et al. 2020): every this many steps, one more update by the same
    # optimizer on the phase's `<name>_reg` objective, which the family scales by reg_every (0: none).
    reg_every: int = 0

    def objectives(self) -> list[str]:
        """The phase_loss names this phase calls: its own, and its regularizer's when lazy."""
        return [self.name, f"{self.name}_reg"] if self.reg_every else [self.name]


class EMA:
    """An exponential moving average of some tensors (stacked ones too: the update is elementwise)."""

    def __init__(self, tensors: list[torch.Tensor], decay: float):
        self.tensors, self.decay = tensors, decay
        self.shadow = [t.detach().clone() for t in tensors]

    @torch.no_grad()
    def update(self) -> None:
        for s, t in zip(self.shadow, self.tensors):
            s.lerp_(t, 1 - self.decay)

    @torch.no_grad()
    def copy_to_tensors(self) -> None:
        for s, t in zip(self.shadow, self.tensors):
            t.copy_(s)

    def state_dict(self) -> dict:
        return {"shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.shadow = [t.clone() for t in state["shadow"]]


class Generator(nn.Module):
    """Base class of a generator family. Images are float tensors in [0, 1], shape (N, C, H, W)."""

    conditional = False  # True when sample() honours the labels it is given
    can_reconstruct = False  # True when reconstruct() is implemented (label strategy `reconstruct`)
    # The model entry's `precision`, set by generators.build: a family may sample in it too (diffusion on a CPU).
    precision = "fp32"

    def __init__(self, image_shape, num_classes: int, **hparams):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.hparams = dict(hparams)
        # Epochs of training done so far (fractional), set by the trainer before every step, so
        # schedules such as beta annealing work the same for single and stacked per-class models.
        self.register_buffer("epoch", torch.zeros(()))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training objective on one batch, and its named parts (detached tensors) for the loss log."""
        raise NotImplementedError

    def phases(self) -> tuple[Phase, ...]:
        """The optimizer updates of one training step, in order (one, over every weight, unless overridden)."""
        return (Phase(),)

    def phase_loss(self, phase: str, x: torch.Tensor, y: torch.Tensor):
        """The objective of one phase on one batch; a one-phase family's is its `loss`."""
        return self.loss(x, y)

    def after_training(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Called once training ends with the float images and labels it trained on (a GAN's standing batch-norm
        statistics, a VAE's prior fitted to its encoded training set)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor, phase: str = "loss"):
        return self.phase_loss(phase, x, y)  # so torch.func.functional_call can run each objective

    def sample(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """len(labels) new images; unconditional families ignore the labels."""
        raise NotImplementedError

    def set_sampling(self, sampling: dict | None = None, *, classes=None, log=None) -> None:
        """How sample() draws, for families with a choice of sampler (diffusion); others take none."""
        if sampling:
            raise GenaugError(f"{type(self).__name__} has no sampling parameters (got {sampling})")

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """A stochastic reconstruction of each image of class y (for the `reconstruct` label strategy)."""
        raise GenaugError(f"{type(self).__name__} cannot reconstruct images; use per_class: true instead")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def _optimizer(params, lr: float, betas=(0.9, 0.999)) -> torch.optim.Optimizer:
    # The fused kernel matters on CPU too: small models are dominated by per-op overhead.
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


class _Tensors:
    """Weights and buffers as one object of a snapshot (Resume): saved as they are, restored in place."""

    def __init__(self, tensors: list[torch.Tensor]):
        self.tensors = tensors

    def state_dict(self) -> list[torch.Tensor]:
        return [t.detach() for t in self.tensors]

    @torch.no_grad()
    def load_state_dict(self, saved: list[torch.Tensor]) -> None:
        for t, s in zip(self.tensors, saved, strict=True):
            t.copy_(s)


class _LossLog:
    """Each loss part's mean over an interval of steps: a history row per interval (per model when stacked),
    a progress line and the board's scalars. A non-finite mean ends training (Diverged)."""

    def __init__(self, name: str, losses: list[str], steps: int, log, log_every: int):
        self.name, self.losses, self.steps, self.log = name, losses, steps, log
        self.every = log_every or max(1, steps // 20)
        self.progress: Progress | None = None  # start() makes it, once the step training resumes from is known
        self.history, self.sums, self.counts = [], {}, {}

    def state_dict(self) -> dict:
        return {"history": self.history, "sums": self.sums, "counts": self.counts}

    def load_state_dict(self, state: dict) -> None:
        self.history, self.sums, self.counts = state["history"], state["sums"], state["counts"]

    def start(self, step: int) -> None:
        """Training (re)starts after `step`: the progress line's rate counts from there."""
        self.progress = Progress(self.steps, start=step)

    def add(self, step: int, parts: dict[str, torch.Tensor]) -> None:
        for k, v in parts.items():  # a lazy regularizer's parts come every few steps: each key has its count
            self.sums[k] = self.sums.get(k, 0) + v.detach()
            self.counts[k] = self.counts.get(k, 0) + 1
        if step % self.every == 0 or step == self.steps:
            self._write(step)
        elif self.progress.due(step):
            print(f"{self.name} {self.progress.line(step)}", file=self.log, flush=True)

    def _write(self, step: int) -> None:
        means = {k: (v / self.counts[k]).cpu() for k, v in self.sums.items()}
        if not all(torch.isfinite(v).all() for v in means.values()):
            raise Diverged(f"{self.name} diverged: non-finite loss by step {step}; lower its lr or check the "
                           "training images", self.history)
        first = means[self.losses[0]]
        if first.dim() == 0:
            self.history.append({"step": step, **{k: float(v) for k, v in means.items()}})
        else:
            for i in range(len(first)):
                self.history.append({"model": i, "step": step, **{k: float(v[i]) for k, v in means.items()}})
        shown = " ".join(f"{k} {float(means[k].mean()):.4f}" for k in self.losses)
        print(f"{self.name} {self.progress.line(step, shown)}", file=self.log, flush=True)
        board.current().scalars(step, means, prefix=f"{self.name}/")
        self.sums, self.counts = {}, {}


def _phase_step(phase: Phase, tensors, opt, step: int, step_loss, loss_name: str) -> dict:
    """One phase's update(s) of a step: its objective `repeats` times, then its lazy regularizer when due.
    Returns the parts to log: the phase's loss under `loss_name`, and the regularizer's own parts."""
    objectives = [phase.name] * phase.repeats
    if phase.reg_every and step % phase.reg_every == 0:
        objectives.append(f"{phase.name}_reg")
    for objective in objectives:
        loss, objective_parts = step_loss(step, objective)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if phase.clip is not None:
            with torch.no_grad():
                for t in tensors:
                    t.clamp_(-phase.clip, phase.clip)
        if objective == phase.name:
            parts = {loss_name: objective_parts.pop("loss", loss.detach()), **objective_parts}
        else:  # the regularizer's parts (e.g. its penalty); its loss is not the phase's
            objective_parts.pop("loss", None)
            parts.update(objective_parts)
    return parts


def train_loop(
    named_params: dict[str, torch.Tensor],
    step_loss: Callable[[int, str], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    *,
    steps: int,
    lr: float,
    name: str,
    phases: tuple[Phase, ...] = (Phase(),),
    buffers: list[torch.Tensor] = (),
    rngs: tuple[torch.Generator, ...] = (),
    extra_state: dict | None = None,
    snapshots: Snapshots | None = None,
    log=sys.stderr,
    log_every: int = 0,
    on_step: Callable[[int, float, Callable], bool] | None = None,
) -> list[dict]:
    """Run `steps` training steps; each runs every phase's Adam update(s) on its share of `named_params`.

    `step_loss(step, phase)` draws a batch and returns (loss, parts). Parts may be scalars or one
    value per stacked model (shape (k,)). Returns the loss log: one row per interval with each
    part's mean, and per model when stacked. Raises on a non-finite loss. With `snapshots`, the
    params, buffers, optimizers, EMAs, RNGs (global and `rngs`), `extra_state` (objects with
    state_dict/load_state_dict) and the log so far are saved every `snapshots.every` steps, and a
    saved state of the same job is resumed from (checkpoint.Resume). Phases with `ema` end with the
    averaged weights. `on_step(step, seconds, averaged)`, called after every step, ends training early by
    returning True; `averaged` is a context manager that holds the averaged weights in the model while it
    is open (a wall-clock benchmark scores snapshots of one run with it).
    """
    groups = []
    for phase in phases:
        tensors = [t for n, t in named_params.items() if phase.prefix is None or n.startswith(phase.prefix)]
        if not tensors:
            raise GenaugError(f"{name}: training phase {phase.name!r} has no parameters")
        groups.append((phase, tensors, _optimizer(tensors, lr * phase.lr_scale, phase.betas)))
    emas = {p.name: EMA(tensors, p.ema) for p, tensors, _ in groups if p.ema}
    loss_name = (lambda phase: "loss") if len(phases) == 1 else (lambda phase: f"{phase}_loss")
    losses = _LossLog(name, [loss_name(p.name) for p in phases], steps, log, log_every)
    resume = Resume(snapshots, {"tensors": _Tensors([*named_params.values(), *buffers]),
                                **{f"optimizer{i}": opt for i, (_, _, opt) in enumerate(groups)},
                                **(extra_state or {}), **{f"ema_{k}": v for k, v in emas.items()},
                                "losses": losses}, rngs)
    losses.start(resume.step)
    averaged = _averaged([t for _, tensors, _ in groups for t in tensors], emas)
    for step in range(resume.step + 1, steps + 1):
        parts = {}
        for phase, tensors, opt in groups:
            parts.update(_phase_step(phase, tensors, opt, step, step_loss, loss_name(phase.name)))
            if phase.name in emas:
                emas[phase.name].update()
        losses.add(step, parts)
        if step < steps:
            resume.save_if_due(step)
        if on_step is not None and on_step(step, resume.seconds(), averaged):
            break
    for ema in emas.values():
        ema.copy_to_tensors()
    return losses.history


def _averaged(tensors: list[torch.Tensor], emas: dict[str, EMA]):
    """A context manager that holds the EMAs' weights in `tensors` while it is open."""

    @contextlib.contextmanager
    def averaged():
        saved = [t.detach().clone() for t in tensors]
        for ema in emas.values():
            ema.copy_to_tensors()
        try:
            yield
        finally:
            with torch.no_grad():
                for t, s in zip(tensors, saved):
                    t.copy_(s)

    return averaged


def in_precision(precision: str, x: torch.Tensor, loss_fn, *args):
    """loss_fn(*args) (a loss and its parts) under `precision`: bf16 autocasts the forward pass and loss
    (weights and Adam stay float32); the results come back float32 for backward and the log."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss, parts = loss_fn(*args)
    return loss.float(), {k: v.float() if torch.is_tensor(v) else v for k, v in parts.items()}


def capped_batch(batch_size: int, n_images: int, name: str, log=sys.stderr) -> int:
    """A batch is drawn (with replacement) from `n_images`; more rows than that add memory, not information,
    so it is capped there (a `batch_size: 100000` on a small set would otherwise exhaust the node)."""
    if batch_size <= n_images:
        return batch_size
    print(f"{name}: batch_size {batch_size} is more than the {n_images} training images it draws from; "
          f"batches of {n_images}", file=log, flush=True)
    return n_images


def _probe_step(objectives: list[str], loss_of: Callable[[str], torch.Tensor], params) -> None:
    """One training step's forward and backward passes for each objective, without an update (memory.check_step)."""
    for objective in objectives:
        loss_of(objective).backward()
        for p in params:
            p.grad = None


def fit(model: Generator, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch_size: int, lr: float, seed: int,
        name: str = "generator", precision: str = "fp32", snapshots: Snapshots | None = None, log=sys.stderr,
        on_step=None) -> list[dict]:
    """Train one model on float images `x` already on its device; batches are drawn uniformly at random."""
    if len(x) == 0:
        raise GenaugError(f"{name}: no training images")
    precision = resolve_precision(precision, x.device)
    batch_size = capped_batch(batch_size, len(x), name, log)
    gen = torch.Generator(device="cpu").manual_seed(streams.seed("generator.batches", seed))
    torch.manual_seed(streams.seed("generator.noise", seed))
    model.train()
    if memory.limit() is not None:  # the probe steps a copy: the model's weights and buffers stay untouched
        probe = copy.deepcopy(model)
        objectives = [o for phase in model.phases() for o in phase.objectives()]
        memory.check_step(
            lambda b: _probe_step(objectives,
                                  lambda o: in_precision(precision, x, probe.phase_loss, o, x[:b], y[:b])[0],
                                  probe.parameters()),
            batch_size, params=model.parameters(), state_copies=3, device=x.device, what=name, log=log)
        del probe

    def step_loss(step, phase):
        model.epoch.fill_((step - 1) * batch_size / len(x))
        idx = torch.randint(0, len(x), (batch_size,), generator=gen).to(x.device)
        return in_precision(precision, x, model.phase_loss, phase, x[idx], y[idx])

    history = train_loop(dict(model.named_parameters()), step_loss, steps=steps, lr=lr, name=name,
                         phases=model.phases(), buffers=list(model.buffers()), rngs=(gen,), snapshots=snapshots,
                         log=log, on_step=on_step)
    model.after_training(x, y)
    model.eval()
    for row in history:
        row["epoch"] = round(row["step"] * batch_size / len(x), 3)
    return history


@torch.no_grad()
def _unstack(members: list[Generator], params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor,
             classes: list[int]) -> None:
    """Copy stacked weights and buffers back into each member model, which then ends its training on its class."""
    for i, (m, c) in enumerate(zip(members, classes)):
        for key, value in params.items():
            m.get_parameter(key).copy_(value[i])
        for key, value in buffers.items():
            m.get_buffer(key).copy_(value[i])
        m.after_training(x[y == c], y[y == c])
        m.eval()


class PerClass(nn.Module):
    """k independent copies of an unconditional family, one per class (002's and 003's class-wise training)."""

    conditional = True
    can_reconstruct = False

    def __init__(self, models: list[Generator]):
        super().__init__()
        self.models = nn.ModuleList(models)
        # Which classes had real images to train on; saved with the weights.
        self.register_buffer("trained", torch.zeros(len(models), dtype=torch.bool))

    def fit(self, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch_size: int, lr: float, seed: int,
            precision: str = "fp32", snapshots: Snapshots | None = None, log=sys.stderr) -> list[dict]:
        """Train the models of every class that has images, all at once (stacked weights, vmapped loss)."""
        precision = resolve_precision(precision, x.device)
        classes = [c for c in range(len(self.models)) if bool((y == c).any())]
        if not classes:
            raise GenaugError("per-class generator: no training images")
        members = [self.models[c] for c in classes]
        # Capped at the whole set, so a step holds at most classes x data rows, however large batch_size is.
        batch_size = capped_batch(batch_size, len(x), f"{len(classes)} per-class models", log)
        for m in members:
            m.train()
        params, buffers = stack_module_state(members)
        skeleton = copy.deepcopy(members[0]).to("meta")
        phases = members[0].phases()
        batched_loss = {
            name: vmap(lambda p, b, xb, yb, name=name: functional_call(skeleton, (p, b), (xb, yb, name)),
                       randomness="different")
            for phase in phases for name in phase.objectives()
        }

        order = torch.argsort(y)
        xs, ys = x[order], y[order]
        counts = torch.bincount(y, minlength=len(self.models))[classes]
        starts = torch.cumsum(counts, 0) - counts
        gen = torch.Generator(device="cpu").manual_seed(streams.seed("generator.batches", seed))
        torch.manual_seed(streams.seed("generator.noise", seed))

        def probe_loss(b, objective):  # class blocks' first rows; cloned buffers, so the probe changes nothing
            idx = starts[:, None] + torch.arange(b, device=counts.device) % counts[:, None]
            probe_buffers = {k: v.clone() for k, v in buffers.items()}
            return in_precision(precision, x, batched_loss[objective], params, probe_buffers, xs[idx], ys[idx])[0].sum()

        objectives = [o for phase in phases for o in phase.objectives()]
        memory.check_step(lambda b: _probe_step(objectives, lambda o: probe_loss(b, o), params.values()), batch_size,
                          params=params.values(), state_copies=3, device=x.device,
                          what=f"{len(classes)} per-class models", log=log)

        def step_loss(step, phase):
            buffers["epoch"].copy_((step - 1) * batch_size / counts)  # each class's own epochs
            u = torch.rand((len(classes), batch_size), generator=gen).to(x.device)
            idx = starts[:, None] + (u * counts[:, None]).long()  # uniform within each class's block
            losses, parts = in_precision(precision, x, batched_loss[phase], params, buffers, xs[idx], ys[idx])
            return losses.sum(), {"loss": losses.detach(), **parts}

        history = train_loop(params, step_loss, steps=steps, lr=lr, phases=phases,
                             name=f"{len(classes)} per-class models", buffers=list(buffers.values()), rngs=(gen,),
                             snapshots=snapshots, log=log)
        _unstack(members, params, buffers, x, y, classes)
        self.trained[classes] = True
        for row in history:
            i = row.pop("model")
            row["class"] = classes[i]
            row["epoch"] = round(row["step"] * batch_size / int(counts[i]), 3)  # this class's own epochs
        return history

    def set_sampling(self, sampling: dict | None = None, *, classes=None, log=None) -> None:
        for model in self.models:
            model.set_sampling(sampling, classes=classes, log=log)

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        out = None
        for c, model in enumerate(self.models):
            mask = labels == c
            if not mask.any():
                continue
            if not self.trained[c]:
                raise GenaugError(f"no real image of class {c} to train its generator, so it cannot be sampled")
            imgs = model.sample(labels[mask], gen)
            if out is None:
                out = torch.empty((len(labels), *imgs.shape[1:]), device=imgs.device)
            out[mask] = imgs
        return out
