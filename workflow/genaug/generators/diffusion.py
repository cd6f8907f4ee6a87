"""Diffusion generators: DDPM, class-conditional DDPM with classifier-free guidance, CLIP-guided DDPM.

The network is diffusers' UNet2DModel, built from its config (no download). Training is the shared
loop of base.py: one phase, EMA weights for sampling, so per-class DDPMs train stacked under vmap
like the other families. Images are scaled to [-1, 1] and padded (with the background value) to a
side the UNet's downsamplings divide, then cropped back after sampling.

The sampler is a sampling parameter, not part of the model: one trained model can be sampled by
ancestral DDPM, DDIM (eta) or DPM-Solver++ (diffusers' schedulers, built from the same noise
schedule) with any number of steps. Every sampler is fed an epsilon prediction (a v-prediction
model's output is converted), so guidance is applied once, to epsilon, for all of them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import SAMPLERS, check_sampling, check_unconditional_branch
from ..errors import GenaugError
from ..progress import Progress
from .base import Generator, Phase

SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}  # ours -> diffusers' beta_schedule
PREDICTIONS = ("epsilon", "v")
# The noisiest log-SNR the lu and karras placements start from. The linear schedule's last timestep sits at
# -5.07; the cosine schedule's last few, whose betas are clipped at 0.999, reach -9 and would take a quarter of
# a 20-step grid (the DPM-Solver authors end the cosine schedule early for this; diffusers' lambda_min_clipped).
LAMBDA_MIN = -5.1
KARRAS_RHO = 7.0


def _silence_diffusers() -> None:
    # diffusers logs (at info) each time a scheduler draws CPU noise for a CUDA sample; not news.
    from diffusers.utils import logging as dlogging

    dlogging.set_verbosity_error()


def make_scheduler(sampler: str, *, timesteps: int, schedule: str, spacing: str = "leading", eta: float = 0.0):
    """A fresh diffusers scheduler for `sampler` on the model's training noise schedule, its steps placed by
    `spacing` (config.check_sampling resolves `auto`).

    diffusers' own defaults misplace few steps on a linear schedule: DPM-Solver++ with `linspace` stops at
    t=50 (noise std 0.18) and jumps to the clean image in one first-order step, and DDIMScheduler's uniform
    stride spends too few steps at low noise. With the exact denoiser of Gaussian data (tests/test_diffusion.py)
    dpm20 kept 0.49 of a fine component's std that way, and 1.01 with steps uniform in log-SNR (lu).
    Deterministic DDIM is DPM-Solver++ of order 1 (Lu et al. 2022) and DDIM with eta 1 is its SDE variant of
    order 1 (the same posterior step), so lu and karras DDIM with eta 0 or 1 run on that scheduler; uniform
    strides, and every DDIM with 0 < eta < 1, run on DDIMScheduler. `dpm` with eta 1 is SDE-DPM-Solver++ 2M,
    whose fresh noise at every step corrects a trained network's error as ancestral sampling does. lu and
    karras steps are placed by placed_timesteps (run_sampler passes them to the scheduler)."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    _silence_diffusers()
    common = {"num_train_timesteps": timesteps, "beta_schedule": SCHEDULES[schedule], "prediction_type": "epsilon"}
    if sampler == "ddpm":  # ancestral sampling with the posterior variance (Ho et al.'s fixed_small)
        return DDPMScheduler(**common, variance_type="fixed_small", clip_sample=True, timestep_spacing=spacing)
    if sampler == "ddim" and spacing in ("linspace", "leading", "trailing"):
        # alpha at the last step set to one, as DDPM's last step: eta=1 is ancestral
        return DDIMScheduler(**common, clip_sample=True, set_alpha_to_one=True, timestep_spacing=spacing)
    if sampler in ("dpm", "ddim"):
        # Dynamic thresholding at sample_max_value 1 clips the predicted clean image to [-1, 1] (DDIM's
        # clip_sample); for DPM-Solver++ diffusers advises it in pixel space: without it a quick-trained
        # Fashion-MNIST cddpm drew 15 of 100 images mostly saturated white, with it 2.
        return DPMSolverMultistepScheduler(**common, algorithm_type="sde-dpmsolver++" if eta else "dpmsolver++",
                                           solver_order=2 if sampler == "dpm" else 1, thresholding=True,
                                           sample_max_value=1.0, timestep_spacing="linspace")
    raise GenaugError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")


def placed_timesteps(alphas_cumprod: torch.Tensor, steps: int, spacing: str) -> list[int] | None:
    """The training timesteps a `steps`-step lu or karras sampler evaluates the network at, noisiest first; None
    for the other spacings (the scheduler places those).

    lu: uniform in log-SNR lambda (Lu et al. 2022); karras: Karras et al.'s rho-7 grid of sigma = exp(-lambda).
    Both span LAMBDA_MIN (or the last timestep's lambda, if higher) to timestep 0 and are rounded to whole
    timesteps, nudged apart where two round to the same one (near t=0 the log-SNR grid is finer than a
    timestep): `steps` distinct timesteps, and the network sees the one whose noise level the solver uses.
    diffusers' own use_lu_lambdas / use_karras_sigmas keep fractional timesteps on the cosine schedule and
    truncate them to integers, so the network was told another noise level than the solver's and Karras sigmas
    failed with an IndexError (9 of 20 steps fell on timestep 998)."""
    if spacing not in ("lu", "karras"):
        return None
    a = alphas_cumprod.double()
    lam = 0.5 * torch.log(a / (1 - a))  # falls with t
    top, bottom = float(lam[0]), max(float(lam[-1]), LAMBDA_MIN)
    if spacing == "lu":
        grid = torch.linspace(bottom, top, steps, dtype=torch.float64)
    else:
        smax, smin = math.exp(-bottom) ** (1 / KARRAS_RHO), math.exp(-top) ** (1 / KARRAS_RHO)
        grid = -torch.log((smax + torch.linspace(0, 1, steps, dtype=torch.float64) * (smin - smax)) ** KARRAS_RHO)
    # each grid point's nearest timestep in lambda (lam is decreasing: search its negation)
    right = torch.searchsorted(-lam, -grid).clamp(1, len(lam) - 1)
    nearer_left = (lam[right - 1] - grid).abs() <= (grid - lam[right]).abs()
    t = sorted(torch.where(nearer_left, right - 1, right).tolist())
    for i in range(1, len(t)):
        t[i] = max(t[i], t[i - 1] + 1)
    t[-1] = min(t[-1], len(lam) - 1)
    for i in range(len(t) - 2, -1, -1):
        t[i] = min(t[i], t[i + 1] - 1)
    return t[::-1]


def run_sampler(sampling: dict, *, timesteps: int, schedule: str, x: torch.Tensor, eps, gen: torch.Generator,
                progress=None) -> tuple[torch.Tensor, int]:
    """Denoise x (pure noise of the model's shape) with `sampling`'s scheduler, where eps(x_t, t) is the
    (guided) epsilon prediction and its network evaluations; returns the sample and the evaluations used.
    The one sampling loop: the models call it, and the tests call it with an exact denoiser."""
    spacing = sampling.get("spacing", "leading")
    sched = make_scheduler(sampling["sampler"], timesteps=timesteps, schedule=schedule, spacing=spacing,
                           eta=sampling.get("eta", 0.0))
    placed = placed_timesteps(sched.alphas_cumprod, sampling["steps"], spacing)
    if placed is None:
        sched.set_timesteps(sampling["steps"])
    else:
        sched.set_timesteps(timesteps=placed)
    x = x * sched.init_noise_sigma
    ddim_scheduler = type(sched).__name__ == "DDIMScheduler"
    extra = {"eta": sampling.get("eta", 0.0), "use_clipped_model_output": True} if ddim_scheduler else {}
    nfe, total = 0, len(sched.timesteps)
    for i, t in enumerate(sched.timesteps):
        # the network gets t on its device; the scheduler its own t, as diffusers' pipelines pass it (DDPM's
        # step looks t up in its timesteps, and failed on a GPU given a copy on another device)
        e, evals = eps(x, t.to(x.device))
        nfe += evals
        x = sched.step(e, t, x, generator=gen, **extra).prev_sample
        if progress is not None:
            progress(i + 1, total)
    return x, nfe


class DDPM(Generator):
    """Ho et al.'s denoising diffusion model on a small UNet; unconditional (use per_class: true)."""

    guided = False  # True when sampling has a guidance scale (cddpm: classifier-free; clip_guided: CLIP)

    def __init__(self, image_shape, num_classes: int, *, channels=(32, 64, 64), layers_per_block: int = 1,
                 attention: bool = False, norm_groups: int = 8, prediction: str = "epsilon",
                 schedule: str = "linear", timesteps: int = 1000, ema: float = 0.995, sample_batch: int = 500,
                 min_snr_gamma: float = 0.0, log_sigma=None, **extra):
        super().__init__(image_shape, num_classes, channels=list(channels), layers_per_block=layers_per_block,
                         attention=attention, norm_groups=norm_groups, prediction=prediction, schedule=schedule,
                         timesteps=timesteps, ema=ema, sample_batch=sample_batch, min_snr_gamma=min_snr_gamma,
                         log_sigma=log_sigma, **extra)
        from diffusers import UNet2DModel

        channels = tuple(int(c) for c in channels)
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, not {prediction!r}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {tuple(SCHEDULES)}, not {schedule!r}")
        if any(c % norm_groups for c in channels):
            raise ValueError(f"every channels entry must be divisible by norm_groups {norm_groups}: {list(channels)}")
        if not 0 <= ema < 1:
            raise ValueError(f"ema must be in [0, 1) (0: off), not {ema}")
        if min_snr_gamma < 0:
            raise ValueError(f"min_snr_gamma must be >= 0 (0: off, every timestep weighted alike), not {min_snr_gamma}")
        self.min_snr_gamma = float(min_snr_gamma)
        if log_sigma is not None and (len(log_sigma) != 2 or not float(log_sigma[1]) > 0):
            raise ValueError(f"log_sigma must be null or [mean, std] with std > 0, not {log_sigma}")
        self.log_sigma = None if log_sigma is None else (float(log_sigma[0]), float(log_sigma[1]))
        c, h, w = self.image_shape
        # The UNet halves the side len(channels) - 1 times: pad up to a multiple of that.
        m = 2 ** (len(channels) - 1)
        side = math.ceil(max(h, w) / m) * m
        self.pad = ((side - w) // 2, side - w - (side - w) // 2, (side - h) // 2, side - h - (side - h) // 2)
        self.prediction, self.schedule, self.timesteps, self.ema = prediction, schedule, int(timesteps), ema
        self.sample_batch = int(sample_batch)
        levels = len(channels)
        # Attention (when on) in the lowest-resolution block and the middle block, where it is cheap.
        down = tuple("AttnDownBlock2D" if attention and i == levels - 1 else "DownBlock2D" for i in range(levels))
        up = tuple("AttnUpBlock2D" if attention and i == 0 else "UpBlock2D" for i in range(levels))
        self.unet = UNet2DModel(
            sample_size=side, in_channels=c, out_channels=c, block_out_channels=channels,
            layers_per_block=layers_per_block, down_block_types=down, up_block_types=up, add_attention=attention,
            norm_num_groups=norm_groups, attention_head_dim=min(32, channels[-1]),
            num_class_embeds=self._class_embeds(),
        )
        alphas = make_scheduler("ddpm", timesteps=self.timesteps, schedule=schedule).alphas_cumprod
        self.register_buffer("alphas_cumprod", alphas.float().clone())
        # log sigma of each timestep, ascending; derived, so not saved (checkpoints from before it still load)
        self.register_buffer("log_sigmas", (0.5 * ((1 - alphas) / alphas).log()).float(), persistent=False)
        self.sampling = check_sampling({}, timesteps=self.timesteps, guided=self.guided)
        self.log = None  # where sampling reports progress (set_sampling)
        self.last_nfe = 0  # network evaluations per image of the last sample() call

    def _class_embeds(self) -> int | None:
        return None

    def phases(self):
        return (Phase(ema=self.ema or None),)

    # -- images <-> the UNet's space ------------------------------------------------------------------
    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x * 2 - 1, self.pad, value=-1.0)  # background is black: pad with it

    def _from_model(self, x: torch.Tensor) -> torch.Tensor:
        left, right, top, bottom = self.pad
        x = x[..., top:x.shape[-2] - bottom, left:x.shape[-1] - right]
        return ((x.clamp(-1, 1) + 1) / 2).contiguous()

    def _unet(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if x.is_cuda:  # bf16 autocast and channels_last on a GPU
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = self.unet(x.contiguous(memory_format=torch.channels_last), t, class_labels=labels).sample
            return out.float()
        # On a CPU, the arithmetic the model trained in: bf16 sampling is 2.3x as fast as fp32 for cddpm, FD
        # 0.6 % higher (docs/measured/2026-12-05-cddpm-bf16-sampling.md); the loss is computed in float32 either way.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return self.unet(x, t, class_labels=labels).sample.float()

    def _train_labels(self, y: torch.Tensor) -> torch.Tensor | None:
        return None

    def loss(self, x, y):
        x0 = self._to_model(x)
        t = self._train_timesteps(x0.shape[0], x0.device)
        noise = torch.randn_like(x0)
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = noise if self.prediction == "epsilon" else a.sqrt() * noise - (1 - a).sqrt() * x0
        out = self._unet(xt, t, self._train_labels(y))
        if not self.min_snr_gamma:
            return F.mse_loss(out, target), {}
        # Min-SNR-gamma (Hang et al. 2023): each timestep's loss weighted as an x0 loss clipped at SNR gamma,
        # so the many nearly clean timesteps stop dominating the gradient; written for the target predicted.
        err = (out - target).pow(2).flatten(1).mean(1)
        snr = (a / (1 - a)).flatten()
        weight = snr.clamp(max=self.min_snr_gamma) / (snr if self.prediction == "epsilon" else snr + 1)
        return (weight * err).mean(), {}

    def _train_timesteps(self, n: int, device) -> torch.Tensor:
        """Uniform timesteps (Ho et al.), or with log_sigma the first timestep at least as noisy as a log-normal
        noise level (Karras et al. 2022): the steps go where that distribution puts its mass."""
        if self.log_sigma is None:
            return (torch.rand(n, device=device) * self.timesteps).long().clamp(max=self.timesteps - 1)
        mean, std = self.log_sigma
        drawn = torch.randn(n, device=device) * std + mean
        return torch.searchsorted(self.log_sigmas, drawn).clamp(max=self.timesteps - 1)

    # -- sampling -------------------------------------------------------------------------------------
    def set_sampling(self, sampling: dict | None = None, *, classes=None, log=None) -> None:
        """How sample() draws: sampler, steps, eta, guidance (config.DEFAULT_SAMPLING for what is not given)."""
        self.sampling = check_sampling(sampling, timesteps=self.timesteps, guided=self.guided)
        self.log = log

    def _eps(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, guidance: float):
        """The model's epsilon prediction at x_t, with guidance applied; and network evaluations used."""
        out = self._unet(x, t.expand(len(x)), None)
        return self._as_eps(out, x, t), 1

    def _as_eps(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.prediction == "epsilon":
            return out
        a = self.alphas_cumprod[t]
        return a.sqrt() * out + (1 - a).sqrt() * x

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        chunks = [self._denoise(part, gen) for part in labels.split(self.sample_batch)]
        return torch.cat(chunks) if chunks else torch.empty((0, *self.image_shape), device=self.device)

    def _denoise(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        s = self.sampling
        c, side = self.image_shape[0], self.unet.config.sample_size

        x, self.last_nfe = run_sampler(
            s, timesteps=self.timesteps, schedule=self.schedule,
            x=torch.randn((len(labels), c, side, side), generator=gen).to(self.device),
            eps=lambda xt, t: self._eps(xt, t, labels, s["guidance"]), gen=gen,
            progress=_SamplerReport(self.log, s["sampler"], f"({len(labels)} images)"))
        return self._from_model(x)


class _SamplerReport:
    """The sampler's progress lines: called after each of its `total` steps (i = 1 .. total), which it knows
    only once it runs; silent without a log."""

    def __init__(self, log, sampler: str, what: str):
        self.log, self.sampler, self.what, self.progress = log, sampler, what, None

    def __call__(self, i: int, total: int) -> None:
        if self.log is None:
            return
        if self.progress is None:
            self.progress = Progress(total)
        if i > 0 and self.progress.due(i):
            print(f"  {self.sampler} {self.progress.line(i, self.what)}", file=self.log, flush=True)


class CDDPM(DDPM):
    """Class-conditional DDPM: a label embedding in the UNet, trained with label dropout so that one
    network also predicts unconditionally; classifier-free guidance mixes the two at sampling:
    eps = eps_uncond + guidance * (eps_cond - eps_uncond) (0: unconditional, 1: conditional)."""

    conditional = True
    guided = True

    def __init__(self, image_shape, num_classes: int, *, label_dropout: float = 0.1, flip_aug: float = 0.0,
                 **hparams):
        if not 0 <= label_dropout < 1:
            raise ValueError(f"label_dropout must be in [0, 1), not {label_dropout}")
        if not 0 <= flip_aug < 1:
            raise ValueError(f"flip_aug must be in [0, 1) (0: off), not {flip_aug}")
        self.label_dropout, self.flip_aug = label_dropout, float(flip_aug)
        kwargs = {"flip_aug": flip_aug} if flip_aug else {}  # a spec without it builds the network it always did
        super().__init__(image_shape, num_classes, label_dropout=label_dropout, **kwargs, **hparams)

    @property
    def _block(self) -> int:
        """Labels per block of class embeddings: the classes, then the null label."""
        return self.num_classes + 1

    def _class_embeds(self) -> int:
        return self._block * (2 if self.flip_aug else 1)  # with flip_aug a second block says "mirrored"

    def set_sampling(self, sampling: dict | None = None, *, classes=None, log=None) -> None:
        super().set_sampling(sampling, classes=classes, log=log)
        check_unconditional_branch(self.label_dropout, self.sampling["guidance"])

    def _train_labels(self, y):
        """Each label, or with probability label_dropout its block's null label (the block's last index)."""
        drop = torch.rand(y.shape, device=y.device) < self.label_dropout
        return torch.where(drop, y // self._block * self._block + self.num_classes, y)

    def loss(self, x, y):
        """With flip_aug, that share of the batch is mirrored left-right and labelled so (non-leaking augmentation,
        as EDM's augmentation conditioning): twice the images to learn from, while sampling, which asks for the
        unmirrored labels, draws no mirrored image that the data lack (Fashion-MNIST's shoes all face left)."""
        if self.flip_aug:
            flip = torch.rand(y.shape, device=y.device) < self.flip_aug
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            y = y + flip.long() * self._block
        return super().loss(x, y)

    def _eps(self, x, t, labels, guidance):
        null = torch.full_like(labels, self.num_classes)
        if guidance == 1.0:
            return self._as_eps(self._unet(x, t.expand(len(x)), labels), x, t), 1
        if guidance == 0.0:
            return self._as_eps(self._unet(x, t.expand(len(x)), null), x, t), 1
        out = self._unet(torch.cat([x, x]), t.expand(2 * len(x)), torch.cat([labels, null]))
        cond, uncond = self._as_eps(out, torch.cat([x, x]), t).chunk(2)
        return uncond + guidance * (cond - uncond), 2


class CLIPGuided(DDPM):
    """000's CLIP-guided diffusion: an unconditional DDPM trained on every class; at each denoising
    step the sample is pushed up the gradient of the cosine similarity, under an open_clip model,
    between its predicted clean image and its class's text prompt (classifier guidance with CLIP as
    the classifier). The label is the prompt's class. CLIP's weights come from `clip_weights`; the
    gradient is taken through the clean-image estimate with epsilon held fixed (no UNet backprop)."""

    conditional = True
    guided = True

    def __init__(self, image_shape, num_classes: int, *, clip_model: str = "ViT-B-32", clip_weights: str | None = None,
                 prompts: dict | None = None, prompt_template: str = "a photo of a {}", **hparams):
        super().__init__(image_shape, num_classes, clip_model=clip_model, clip_weights=clip_weights,
                         prompts=dict(prompts or {}), prompt_template=prompt_template, **hparams)
        self.classes = [str(c) for c in range(num_classes)]
        self._clip = None

    def set_sampling(self, sampling=None, *, classes=None, log=None):
        super().set_sampling(sampling, classes=classes, log=log)
        if classes is not None and list(classes) != self.classes:
            self.classes = list(classes)
            self._clip = None  # the cached text features belong to the old class names

    def class_prompts(self) -> list[str]:
        """One text prompt per class: the `prompts` entry for its name (or index), else the template."""
        prompts = self.hparams["prompts"]
        return [prompts.get(name, prompts.get(str(c), self.hparams["prompt_template"].format(name)))
                for c, name in enumerate(self.classes)]

    def clip(self):
        """(model, text features per class, image size, mean, std) of the CLIP model, loaded once."""
        if self._clip is None:
            model, tokenizer = load_clip(self.hparams["clip_model"], self.hparams["clip_weights"], self.device)
            with torch.no_grad():
                text = F.normalize(model.encode_text(tokenizer(self.class_prompts()).to(self.device)).float(), dim=-1)
            cfg = model.visual.preprocess_cfg if hasattr(model.visual, "preprocess_cfg") else {}
            size = model.visual.image_size
            size = size[0] if isinstance(size, (tuple, list)) else size
            mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)), device=self.device)
            std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)), device=self.device)
            self._clip = (model, text, int(size), mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1))
        return self._clip

    def similarity(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of each image in [0, 1] (the dataset's shape) to its class's prompt."""
        model, text, size, mean, std = self.clip()
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        feats = F.normalize(model.encode_image((x - mean) / std).float(), dim=-1)
        return (feats * text[labels]).sum(-1)

    def _eps(self, x, t, labels, guidance):
        eps, evals = super()._eps(x, t, labels, guidance)
        if guidance == 0.0:
            return eps, evals
        a = self.alphas_cumprod[t]
        with torch.enable_grad():
            xt = x.detach().requires_grad_(True)
            x0 = (xt - (1 - a).sqrt() * eps) / a.sqrt()
            sim = self.similarity(self._from_model(x0.clamp(-1, 1)), labels)
            grad, = torch.autograd.grad(sim.sum(), xt)
        return eps - (1 - a).sqrt() * guidance * grad, evals


def load_clip(arch: str, weights, device):
    """An open_clip model and tokenizer from a local weights file; `arch` is an open_clip model name
    or a path to a model-config JSON (as open_clip's model_configs). No download is ever tried."""
    import open_clip

    if not weights:
        raise GenaugError("clip_guided: no CLIP weights; set the model's clip_weights to a local open_clip "
                          "checkpoint (they cannot be downloaded here)")
    if not Path(weights).is_file():
        raise GenaugError(f"clip_guided: clip_weights {weights} is not a file; download the open_clip checkpoint "
                          "for its clip_model elsewhere and give its path")
    name = arch
    if str(arch).endswith(".json"):
        path = Path(arch)
        if not path.is_file():
            raise GenaugError(f"clip_guided: clip_model {arch} is not a file")
        name = path.stem
        if name not in open_clip.list_models():
            try:
                json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise GenaugError(f"clip_guided: clip_model {arch} is not valid JSON ({err})") from err
            open_clip.add_model_config(path)
    try:
        model = open_clip.create_model(name, pretrained=str(weights), device=device)
    except (RuntimeError, KeyError, ValueError) as err:
        raise GenaugError(f"clip_guided: cannot load clip_model {arch!r} from {weights} ({err}); check that the "
                          "weights belong to that architecture") from err
    model.eval().requires_grad_(False)
    return model, open_clip.get_tokenizer(name)


__all__ = ["DDPM", "CDDPM", "CLIPGuided", "make_scheduler", "run_sampler", "load_clip"]
