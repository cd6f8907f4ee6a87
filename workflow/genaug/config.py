"""Turn a validated config.yaml into per-rule specs: the effort preset, model and classifier settings.

The Snakefile imports this module, so it must not import torch. The JSON schema checks each
value; `check` adds the checks that span fields (a model in the grid must be defined, ...).
"""

from __future__ import annotations

import difflib
import functools
import json
import numbers
import re
from collections.abc import Mapping
from pathlib import Path

from . import families
from .errors import GenaugError
from .jobenv import RUN_ONLY_ENV
from .sources import (CACHE_DIR, DATASETS, TORCHVISION, empty_test_classes, folder_class_names, folder_test_counts,
                      folder_train_counts, idx_class_counts)

# Rows of the model axis that use no generator: the real images as they are, augmented (classic), and drawn in
# class-balanced passes (oversampled: the plain fix for imbalance a generator's top-up must beat).
ARMS = ("baseline", "classic", "oversampled")
COMBINED = "combined"  # the model-axis row whose synthetic set mixes several generators' (grid.combined)
RESERVED = (*ARMS, COMBINED)
# Config keys that change how jobs run, never what they compute: they reach jobs through the environment
# (genaug/jobenv.py), so changing one reruns nothing, not even the report.
RUN_ONLY_KEYS = (*RUN_ONLY_ENV, "python_path")
TRAIN_SETS = ("mixed", "synthetic")  # what a generator row's classifier trains on; ARMS train on `real`
NO_FILTER = "none"  # the filter axis value that keeps every synthetic image
# Registered filters (filters.py), usable in grid.filters without a `filters:` entry: 003's latent sphere
# in the cell's autoencoder space, its Mahalanobis variant, and an oracle in the reference classifier's space.
FILTER_PRESETS = {
    "sphere": {"keep": 0.9, "distance": "euclidean", "space": "autoencoder"},
    "sphere_mahalanobis": {"keep": 0.9, "distance": "mahalanobis", "space": "autoencoder"},
    "sphere_reference": {"keep": 0.9, "distance": "euclidean", "space": "reference"},
}
FILTER_DISTANCES, FILTER_SPACES = ("euclidean", "mahalanobis"), ("autoencoder", "reference")
FILTER_DEFAULTS = {"keep": 0.9, "distance": "euclidean", "space": "autoencoder"}
# Keys of a model entry that configure training or sampling; the rest are the family's hyperparameters.
MODEL_KEYS = families.MODEL_KEYS

# Registered model names: usable in grid.models without a `models:` entry. An entry of the same
# name under `models:` replaces the preset whole. Steps are `paper` values (quick runs half).
_MLP_VAE = {"family": "vae", "hidden": [200, 100], "latent_dim": 20, "steps": 1500, "batch_size": 64, "lr": 1e-3}
_ALL_CLASSES = {"steps": 4000, "batch_size": 128, "lr": 1e-3}  # one model trained on every class
CORRUPTIONS = ("gaussian", "salt_pepper", "rotation", "brightness", "contrast", "blur")  # generators/corruptions.py
PRESETS = {
    "vae": {**_MLP_VAE, "per_class": True},  # 000's MLP VAE, one per class, sampled from its prior
    "vae_recon": {**_MLP_VAE, **_ALL_CLASSES, "label_strategy": "reconstruct"},  # 000's way: copies keep labels
    "vae_pseudo": {**_MLP_VAE, **_ALL_CLASSES, "label_strategy": "pseudo_label"},
    **{f"dvae_{c}": {**_MLP_VAE, "per_class": True, "corruption": c} for c in CORRUPTIONS},
    # 001's beta-VAE: conv encoder, transposed-conv decoder, beta annealed 0 -> 0.8 over 20 epochs.
    "beta_vae": {"family": "conv_vae", "per_class": True, "channels": [16, 32], "hidden": 256, "latent_dim": 32,
                 "beta": 0.8, "anneal_epochs": 20, "steps": 1500, "batch_size": 32, "lr": 1e-3},
    # 003's NM1/NM2 conv VAE (latent 100), channels scaled from (512, 1024) to (16, 32) for a CPU.
    "conv_vae": {"family": "conv_vae", "per_class": True, "channels": [16, 32], "hidden": 256, "latent_dim": 100,
                 "steps": 1500, "batch_size": 32, "lr": 1e-3},
    # Issue 21's CPU preset: 000's MLP widened to 512-256 with a 32-d latent, 10,000 quick steps (about 2 one-core
    # minutes), latents drawn from a per-class mixture fitted to the encoded training images. Paired against 000's
    # 200-100 / 20-d for 2,000 steps on three seeds: CAS +0.025, domain FD 23 against 114
    # (docs/measured/2026-12-04-cvae-preset.md).
    "cvae": {"family": "cvae", "hidden": [512, 256], "latent_dim": 32, "label_dim": 16, "prior": "gmm",
             **_ALL_CLASSES, "steps": 20000},
    "vqvae": {"family": "vqvae", "arch": "mlp", **_ALL_CLASSES},  # 000's MLP VQ-VAE + a class-conditional prior
    "vqvae_conv": {"family": "vqvae", "arch": "conv", **_ALL_CLASSES},
}
# GANs (generators/gan.py): paper steps 3000 (quick 1500), batch 64, Adam betas (0.5, 0.999), the
# discriminator's lr twice the generator's (TTUR), DiffAugment on, EMA generator weights.
_GAN = {"steps": 3000, "batch_size": 64, "lr": 2e-4, "lr_d_scale": 2.0}
PRESETS.update({
    "gan": {"family": "gan", "arch": "mlp", "loss": "vanilla", "per_class": True, **_GAN},  # 003's MLP GAN
    "dcgan": {"family": "gan", "arch": "dcgan", "loss": "vanilla", "per_class": True, **_GAN},
    "lsgan": {"family": "gan", "arch": "dcgan", "loss": "lsgan", "per_class": True, **_GAN},
    # WGAN: five clipped critic updates per generator update, Adam without momentum (RMSprop-like).
    "wgan": {"family": "gan", "arch": "dcgan", "loss": "wgan", "per_class": True, **_GAN, "steps": 2000,
             "n_critic": 5, "clip": 0.01, "betas": [0.0, 0.9], "lr_d_scale": 1.0},
    "wgan_gp": {"family": "gan", "arch": "resnet", "loss": "wgan_gp", "per_class": True, **_GAN, "steps": 2000,
                "n_critic": 2, "gp": 10.0, "betas": [0.0, 0.9]},  # 001's ResBlock WGAN-GP
    "cgan": {"family": "cgan", "arch": "mlp", "loss": "vanilla", **_GAN, "steps": 4000},  # 000's cGAN
    "cdcgan": {"family": "cgan", "arch": "dcgan", "loss": "vanilla", **_GAN, "steps": 4000},  # 004, labels early
    "cdcgan_late": {"family": "cgan", "arch": "dcgan_late", "loss": "vanilla", **_GAN, "steps": 4000},  # 004's cDCGAN2
    # cDCGAN2 with a lazy R1 penalty (Mescheder et al. 2018), the CPU evidence grid's GAN (issue 21): without it,
    # on 1,000 images the discriminator wins by step 600 and every class collapses to one image. bf16 for 8,000
    # steps (4,000 quick, 220-249 one-core s of its 480): paired on 3 seeds against fp32 for 5,000, domain FD
    # 80 against 128 and recall higher on every seed, CAS the same (docs/measured/2026-12-04-gan-bf16.md).
    # Precision `auto` (here, in cdcgan_ms and in cddpm): bf16 where the CPU or GPU computes it natively, fp32 where
    # torch would emulate it, several times slower (docs/measured/2026-12-06-precision-auto.md).
    "cdcgan_r1": {"family": "cgan", "arch": "dcgan_late", "loss": "vanilla", **_GAN, "steps": 8000, "r1": 0.2,
                  "reg_every": 4, "precision": "auto"},
    # cdcgan_r1 with MSGAN's mode-seeking term and no DiffAugment, issue 21's conditional GAN: cdcgan_r1 varies only
    # the brightness of one shape a class (recall 0.14-0.17), and its color policy is that brightness. On four seeds
    # against cdcgan_r1: CAS 0.90-0.91x the baseline against 0.77-0.81x, recall 0.74-0.78 against 0.14-0.17, domain
    # FD as far from the bar (42-57x the floor against 38-55x) (docs/measured/2026-12-05-gan-mode-seeking.md).
    "cdcgan_ms": {"family": "cgan", "arch": "dcgan_late", "loss": "vanilla", **_GAN, "steps": 8000, "r1": 0.2,
                  "reg_every": 4, "precision": "auto", "mode_seeking": 0.3, "diffaugment": []},
    "biggan": {"family": "biggan", "loss": "hinge", **_GAN, "steps": 4000, "lr": 1e-4, "lr_d_scale": 4.0,
               "betas": [0.0, 0.999]},
    "stylegan": {"family": "stylegan", "loss": "vanilla", "r1": 0.01, "reg_every": 16, "per_class": True, **_GAN,
                 "lr": 1e-3, "lr_d_scale": 1.0, "betas": [0.0, 0.99]},  # StyleGAN2's lazy R1
})
# Diffusion (generators/diffusion.py): diffusers' UNet2DModel, 28 px kept (two halvings: 28 -> 14 -> 7),
# narrow (16-32-32, 0.26 M weights) and without attention so that `quick` trains in about a quarter of an
# hour on one CPU core (measured: 926 s for a cddpm of 3,000 steps at batch 64, two jobs on 2 cores; cddpm's
# own preset below, 10,000 steps at batch 32 in bf16: 1,004 s); widen `channels` on a GPU. Paper steps 6000.
# No min_snr_gamma (the family's 0): Min-SNR-5 did not help at quick (docs/cpu-generators.md).
_DIFFUSION = {"channels": [16, 32, 32], "layers_per_block": 1, "attention": False, "prediction": "epsilon",
              "schedule": "linear", "timesteps": 1000, "ema": 0.995, "steps": 6000, "batch_size": 64, "lr": 1e-3}
PRESETS.update({
    "ddpm": {"family": "ddpm", "per_class": True, **_DIFFUSION},
    # Issue 21's CPU preset: v-prediction on the cosine schedule, batch 32 in bf16, EMA 0.999, sampled unguided
    # (paired against epsilon, linear, guidance 2 on three seeds: CAS +0.027; docs/measured/2026-12-04-cddpm-preset.md).
    # Its 7 px level widened to 64 channels (0.62 M weights, a step 1.14x the 16-32-32 one's, so 8,800 quick steps
    # in the same 17-18 one-core minutes): domain FD 19-37 % lower on each of three seeds, CAS the same; narrowing
    # the 28 px level to 8 channels for more steps, or widening further, scored worse
    # (docs/measured/2026-12-04-cddpm-width.md).
    # It trains no unconditional branch (label_dropout 0): sampled at guidance 1 that branch is never used, and
    # spending a tenth of the labels on it cost domain FD on each of five seeds (-0.53 [-0.97, -0.08];
    # docs/measured/2026-12-05-cddpm-label-dropout.md). cddpm_cfg below keeps it for guided sampling.
    "cddpm": {"family": "cddpm", "label_dropout": 0.0, **_DIFFUSION, "channels": [16, 32, 64], "prediction": "v",
              "schedule": "cosine", "ema": 0.999, "steps": 17600, "batch_size": 32, "precision": "auto",
              "sampling": {"guidance": 1.0}},
    # 000's CLIP-guided diffusion: rich prompts for the classes a classifier confuses. CLIP weights
    # cannot be downloaded here: give clip_weights (a local open_clip checkpoint for clip_model).
    "clip_guided": {"family": "clip_guided", **_DIFFUSION, "clip_model": "ViT-B-32", "clip_weights": None,
                    "prompts": {"T-shirt/top": "a plain short-sleeved t-shirt", "Trouser": "a pair of long trousers",
                                "Pullover": "a knitted wool pullover sweater", "Dress": "a summer dress",
                                "Coat": "a long winter coat with buttons", "Sandal": "an open strappy sandal",
                                "Shirt": "a professional button-up shirt with a collar",
                                "Sneaker": "a low-top sneaker", "Bag": "a handbag",
                                "Ankle boot": "an ankle boot with a heel"},
                    "sampling": {"sampler": "ddim", "steps": 50, "guidance": 100.0}},
})
# cddpm for classifier-free guidance: the same network and steps with 10 % label dropout, which trains the
# unconditional prediction that guidance other than 1 mixes in; a bare name samples at guidance 2.
PRESETS["cddpm_cfg"] = {**PRESETS["cddpm"], "label_dropout": 0.1, "sampling": {"guidance": 2.0}}
# The built-in families by kind (families.py declares each once; a user's family is looked up with
# families.get, which reads its flags from its class).
AUTOENCODER_FAMILIES = families.names("autoencoder")
GAN_FAMILIES = families.names("gan")
DIFFUSION_FAMILIES = families.names("diffusion")
# Sampling a diffusion model is a grid choice: `cddpm_cfg@ddim50-g3` is cddpm_cfg sampled by DDIM in 50
# steps at guidance 3. A bare name gets the model's `sampling`, then these, with the effort
# preset's steps; the grid always shows the full token, so every synthetic path names its sampler.
# A token's absent eta is 0 (its canonical form shows eta when it is not), so `dpm20` is always the ODE
# solver; a `sampling:` entry's absent eta is `auto`: 1 for dpm (SDE-DPM-Solver++, whose domain FD on a
# quick cddpm was within a few % of DDPM-1000's where the ODE solver's was twice it; docs/measured/README.md:
# Diffusion), 0 for ddim and ddpm.
SAMPLERS = ("ddpm", "ddim", "dpm")
DEFAULT_SAMPLING = {"sampler": "dpm", "steps": 20, "eta": "auto", "guidance": 1.0, "spacing": "auto"}
# Where a few-step sampler puts its steps on the noise schedule (diffusers' names). `auto` is the best one
# measured for the sampler (docs/measured/2026-12-02-samplers.md): lu, steps uniform in log-SNR (Lu et al.), for
# DPM-Solver++ (eta 0: the ODE solver; eta 1: its SDE variant, k-diffusion's dpmpp_2m_sde eta) and for DDIM
# with eta 0 or 1 (DPM-Solver++ of order 1 and its SDE variant, which is DDIM eta 1); linspace for DDIM with
# 0 < eta < 1 (diffusers' DDIMScheduler has only uniform strides); leading for ancestral DDPM, whose 1000 steps
# are the whole schedule.
SPACINGS = {"dpm": ("lu", "karras", "linspace"), "ddim": ("lu", "karras", "linspace", "leading", "trailing"),
            "ddpm": ("leading", "linspace", "trailing")}
_DDIM_SCHEDULER_SPACINGS = ("linspace", "leading", "trailing")  # what DDIM with 0 < eta < 1 can use
_TOKEN = re.compile(r"^(ddpm|ddim|dpm)(\d+)(?:-eta(\d+(?:\.\d+)?))?(?:-g(\d+(?:\.\d+)?))?$")
CLASSIFIER_TRAIN_KEYS = ("max_steps", "eval_every", "patience_steps", "batch_size", "lr", "weight_decay", "ema",
                         "real_fraction", "convergence_checks", "precision")
# Registered classifiers: usable in grid.classifiers without a `classifiers:` entry (one of the same
# name replaces the preset whole). 000's CNN; 004's ResNet-18 (28-32 px stem) and softmax regression.
CLASSIFIER_PRESETS = {
    "cnn": {"arch": "cnn", "lr": 1e-3, "batch_size": 64, "dropout": 0.0},
    "resnet18": {"arch": "resnet18", "lr": 1e-3, "batch_size": 128, "weight_decay": 5e-4},
    "softmax": {"arch": "softmax", "lr": 1e-3, "batch_size": 64},
}

# Effort presets. A classifier trains by one rule counted in optimizer steps, the same for every arm of
# a cell: at most `clf_max_steps` steps, validation (of the weights' moving average) every
# `clf_eval_every`, and a stop `clf_patience_steps` steps after the best validation accuracy. The
# patience was chosen so that doubling it moved no arm's mean test accuracy by more than 0.005 (docs/measured/README.md:
# Converged arms); paper differs in its cap, for sizes up to 5,000. Generator steps in config.yaml are
# `paper` values and are scaled down for the cheaper presets. `sampling_steps` is the default number
# of diffusion sampling steps (a model's `sampling.steps` or an explicit `@` token wins).
EFFORT = {
    "smoke": {"clf_max_steps": 20, "clf_eval_every": 5, "clf_patience_steps": 10, "gen_step_scale": 0.01,
              "gen_min_steps": 10, "sampling_steps": 4},
    "quick": {"clf_max_steps": 12000, "clf_eval_every": 50, "clf_patience_steps": 1000, "gen_step_scale": 0.5,
              "gen_min_steps": 50, "sampling_steps": 20},
    "paper": {"clf_max_steps": 20000, "clf_eval_every": 50, "clf_patience_steps": 1000, "gen_step_scale": 1.0,
              "gen_min_steps": 50, "sampling_steps": 50},
}


class ConfigError(GenaugError):
    """config.yaml is valid JSON-schema-wise but inconsistent."""


def size_tokens(config: dict, regime: str) -> list[str]:
    """The size wildcards of one regime: n<images>, f<percent> or k<images per class>."""
    grid = config["grid"]
    if regime in ("balanced", "semi_balanced", "imbalanced"):
        return [f"n{s}" for s in grid["sizes"]]
    if regime == "fraction":
        return [f"f{s}" for s in grid["fractions"]]
    if regime == "shots":
        return [f"k{s}" for s in grid["shots"]]
    raise ConfigError(f"grid.regimes: unknown regime {regime!r}")


def model_entries(config: dict) -> dict:
    """Every model name the grid may use: the presets, then config.yaml's `models:` (which win)."""
    return {**PRESETS, **(config.get("models") or {})}


def classifier_entries(config: dict) -> dict:
    """Every classifier name the grid may use: the presets, then config.yaml's `classifiers:` (which win)."""
    return {**CLASSIFIER_PRESETS, **(config.get("classifiers") or {})}


def filter_entries(config: dict) -> dict:
    """Every filter name the grid may use: the presets, then config.yaml's `filters:` (which win)."""
    return {**FILTER_PRESETS, **(config.get("filters") or {})}


def filters_for(config: dict, model: str) -> list[str]:
    """The filter axis values of a model row: the real-image arms (ARMS) have no synthetic set to filter."""
    return [NO_FILTER] if model in ARMS else list(config["grid"].get("filters") or [NO_FILTER])


def filter_spec(config: dict, name: str) -> dict:
    """A filter's settings with its defaults."""
    return check_filter({**FILTER_DEFAULTS, **filter_entries(config)[name]}, name)


def check_filter(spec: dict, name: str) -> dict:
    """A filter's settings, or a ConfigError naming the bad one: config time and the filter stage both use it."""
    if not 0 < spec["keep"] <= 1:
        raise ConfigError(f"filters.{name}.keep: {spec['keep']} is not in (0, 1]; it is the fraction of a "
                          "class's real codes inside its sphere, e.g. 0.9")
    if spec["distance"] not in FILTER_DISTANCES or spec["space"] not in FILTER_SPACES:
        raise ConfigError(f"filters.{name}: distance must be one of {', '.join(FILTER_DISTANCES)} and space "
                          f"one of {', '.join(FILTER_SPACES)}")
    return spec


def check_gencls(m: int, L: int, N: int, mu: float) -> None:
    """M1-M4's parameters, or a ConfigError: config time and the gencls stage both use it."""
    if not (m >= 1 and 1 <= L <= m and N >= 1 and 0 < mu <= 1):
        raise ConfigError(f"gencls: m={m}, L={L}, N={N}, mu={mu}: need m >= 1, 1 <= L <= m, N >= 1 and 0 < mu <= 1")


AUTOENCODER_NETWORKS = {  # the cell autoencoder's network defaults, per family
    "conv_vae": {"channels": [16, 32], "hidden": 256, "latent_dim": 32},
    "vae": {"hidden": [400, 200], "latent_dim": 16},
}


def autoencoder_spec(config: dict) -> dict:
    """The cell autoencoder (the sphere filter's space, M2/M4's latent space) as a generator spec: a VAE
    trained on the cell's real subset, every class together, its steps scaled by the effort preset."""
    user = config.get("autoencoder") or {}
    family = user.get("family", config_default("autoencoder.family"))
    network = AUTOENCODER_NETWORKS.get(family, {})  # a bad family is named by check()
    entry = {"family": family, **network, "steps": 2000, "batch_size": 64, "lr": 1e-3, **user}
    return generator_spec({**config, "models": {"autoencoder": {**entry, "label_strategy": "reconstruct"}}},
                          "autoencoder")


def gencls_spec(config: dict) -> dict:
    """The gencls section (003's M1-M4) with its defaults."""
    defaults = {"enabled": True, "regimes": ["shots"], "m": 100, "L": 5, "N": 10, "mu": 0.05}
    return {**defaults, **(config.get("gencls") or {})}


def gencls_models(config: dict) -> list[str]:
    """The generator rows M1-M4 can use: those that draw images of a chosen class."""
    entries = model_entries(config)
    return [m for m in generator_models(config)
            if (entry := entries[split_model(m)[0]]).get("per_class") or families.get(entry["family"]).conditional
            or entry.get("label_strategy") in ("conditional", "reconstruct")]


def uses_autoencoder(config: dict) -> bool:
    """The grid trains the cell autoencoder: a filter in its latent space, or M2/M4 (gencls) in some regime."""
    gencls = gencls_spec(config)
    return (any(filter_spec(config, f)["space"] != "reference" for f in config["grid"].get("filters") or []
                if f != NO_FILTER)
            or (gencls["enabled"] and any(r in gencls["regimes"] for r in config["grid"]["regimes"])
                and bool(gencls_models(config))))


def test_spec(config: dict) -> dict:
    """The test section: the whole test split (per_class null) or a fixed balanced subset of it."""
    return {"per_class": None, "seed": 0, **(config.get("test") or {})}


def split_model(name: str) -> tuple[str, str | None]:
    """A model-axis name's trained model and its sampling token: 'cddpm@ddim50-g3' -> ('cddpm', 'ddim50-g3')."""
    base, _, token = name.partition("@")
    return base, token or None


def parse_sampling_token(token: str) -> dict:
    """{'sampler', 'steps', ...} of a token such as ddpm1000, ddim50, ddim50-eta1, dpm20-g3."""
    m = _TOKEN.match(token)
    if not m:
        raise ConfigError(
            f"sampling token {token!r}: write <sampler><steps>[-eta<x>][-g<x>] with sampler one of "
            f"{', '.join(SAMPLERS)}, e.g. ddim50, ddim50-eta1, dpm20-g3, ddpm1000"
        )
    out = {"sampler": m[1], "steps": int(m[2]), "eta": 0.0 if m[3] is None else float(m[3])}
    if m[4] is not None:
        out["guidance"] = float(m[4])
    return out


def sampling_token(sampling: dict, guided: bool) -> str:
    """The inverse of parse_sampling_token, in canonical form (eta only when non-zero, guidance only
    for guided families)."""
    token = f"{sampling['sampler']}{int(sampling['steps'])}"
    if sampling.get("eta"):
        token += f"-eta{float(sampling['eta']):g}"
    return token + (f"-g{float(sampling['guidance']):g}" if guided else "")


def sampling_spec(config: dict, name: str) -> dict | None:
    """The full sampling setting of a model-axis name (None for a family without samplers)."""
    base, token = split_model(name)
    entry = model_entries(config)[base]
    family = families.get(entry["family"])
    if not family.samplers:
        if token:
            raise ConfigError(f"grid.models: {name!r}: only diffusion models ({', '.join(DIFFUSION_FAMILIES)}) "
                              f"take a sampling token after '@'; {base!r} is family {entry['family']!r}")
        return None
    spec = {**DEFAULT_SAMPLING, "steps": _effort(config)["sampling_steps"], **(entry.get("sampling") or {})}
    if token:
        try:
            spec.update(parse_sampling_token(token))
        except ConfigError as err:
            raise ConfigError(f"grid.models: {name!r}: {err}") from None
    try:
        spec = check_sampling(spec, timesteps=entry.get("timesteps", 1000), guided=family.guided)
        check_unconditional_branch(entry.get("label_dropout"), spec["guidance"])
        return spec
    except ConfigError as err:
        raise ConfigError(f"grid.models: {name!r}: {err}") from None


def check_unconditional_branch(label_dropout, guidance: float) -> None:
    """Guidance other than 1 mixes in the unconditional prediction, which only label_dropout > 0 trains: without
    this check such a model samples through an embedding that never learned anything, silently."""
    if label_dropout == 0 and guidance != 1.0:
        raise ConfigError(f"sampling.guidance: {guidance:g} mixes in the unconditional prediction, which label_dropout "
                          "0 never trained; sample at guidance 1 (drop -g) or train with label_dropout > 0 "
                          "(the cddpm_cfg preset)")


def check_sampling(sampling: dict | None, *, timesteps: int, guided: bool) -> dict:
    """Sampling parameters with defaults filled in, or a ConfigError naming the bad one and the fix.

    The one check of a sampling setting: config time (sampling_spec) and the sample stage both use it."""
    s = {**DEFAULT_SAMPLING, **(sampling or {})}
    unknown = set(s) - set(DEFAULT_SAMPLING)
    if unknown:
        raise ConfigError(f"unknown sampling parameter(s) {sorted(unknown)}; use {', '.join(DEFAULT_SAMPLING)}")
    if s["sampler"] not in SAMPLERS:
        raise ConfigError(f"sampling.sampler: unknown sampler {s['sampler']!r}; choose one of {', '.join(SAMPLERS)}")
    if not 1 <= int(s["steps"]) <= timesteps:
        raise ConfigError(f"sampling.steps: {s['steps']} is not in 1..{timesteps} (the model's training "
                          f"timesteps); use 1..{timesteps}")
    if s["eta"] == "auto":
        s["eta"] = 1.0 if s["sampler"] == "dpm" else 0.0
    if not isinstance(s["eta"], (int, float)) or isinstance(s["eta"], bool):
        raise ConfigError(f"sampling.eta: {s['eta']!r} is not a number; use auto, 0, 1 or (ddim) a value >= 0")
    if s["eta"] < 0 or (s["eta"] and s["sampler"] == "ddpm") or (s["sampler"] == "dpm" and s["eta"] not in (0, 1)):
        raise ConfigError(f"sampling.eta: {s['eta']}: eta is a DDIM parameter (>= 0) and DPM-Solver++'s noise "
                          "(0: the ODE solver, 1: its SDE variant); use ddim<steps>-eta<x>, dpm<steps> or "
                          "dpm<steps>-eta1")
    if s["guidance"] < 0 or (s["guidance"] != 1.0 and not guided):
        raise ConfigError(f"sampling.guidance: {s['guidance']}: this family has no guidance (only cddpm and "
                          "clip_guided have, >= 0); drop -g")
    partial_ddim = s["sampler"] == "ddim" and 0 < s["eta"] < 1
    allowed = _DDIM_SCHEDULER_SPACINGS if partial_ddim else SPACINGS[s["sampler"]]
    spacing = {"dpm": "lu", "ddim": "linspace" if partial_ddim else "lu", "ddpm": "leading"}[s["sampler"]] \
        if s["spacing"] == "auto" else s["spacing"]
    if spacing not in allowed:
        raise ConfigError(f"sampling.spacing: {s['spacing']!r} is not available for {s['sampler']}"
                          f"{' with 0 < eta < 1' if partial_ddim else ''}; use auto or one of {', '.join(allowed)}")
    return {"sampler": s["sampler"], "steps": int(s["steps"]), "eta": float(s["eta"]), "guidance": float(s["guidance"]),
            "spacing": spacing}


def axis_name(config: dict, name: str) -> str:
    """The canonical model-axis name: a diffusion model's always carries its full sampling token."""
    spec = sampling_spec(config, name)
    if spec is None:
        return name
    base = split_model(name)[0]
    return f"{base}@{sampling_token(spec, families.get(model_entries(config)[base]['family']).guided)}"


def grid_models(config: dict) -> list[str]:
    """grid.models with every diffusion name in canonical form (duplicates after that dropped)."""
    out = []
    for name in config["grid"]["models"]:
        canonical = name if name in RESERVED else axis_name(config, name)
        if canonical not in out:
            out.append(canonical)
    return out


def generator_models(config: dict) -> list[str]:
    """The grid's model-axis names that sample a generator (canonical form)."""
    return [m for m in grid_models(config) if m not in RESERVED]


def combined_members(config: dict) -> list[str]:
    """The synthetic sets (model-axis names, canonical) the `combined` row mixes: grid.combined, else
    every generator of grid.models."""
    names = config["grid"].get("combined") or generator_models(config)
    return list(dict.fromkeys(axis_name(config, n) for n in names))


def train_sets(config: dict, model: str) -> list[str]:
    """What a model row's classifiers train on: `real` for the real-image arms (ARMS), else grid.train_sets."""
    return ["real"] if model in ARMS else list(config["grid"].get("train_sets") or ["mixed"])


# Keys that meant something else before: named with their replacement, never silently reinterpreted.
# (section, old key, new key, why)
RENAMED_KEYS = [
    ("classifiers.*", "max_epochs", "max_steps", "classifiers train by a budget of optimizer steps, the same for "
     "every arm of a cell, not epochs"),
    ("classifiers.*", "patience", "patience_steps", "classifiers train by a budget of optimizer steps, the same "
     "for every arm of a cell, not epochs"),
    ("gen_metrics", "reference_images", "per_class", "every set is scored at one class-balanced count against a "
     "reference of that count"),
]
# A filtered row's metric set is the filter applied to a draw this many times the count, then cut to the count.
FILTER_POOL = 2


def check_renamed(config: dict) -> None:
    """A ConfigError naming a key that was renamed (run before the schema, whose message would only say the
    key is unexpected)."""
    for section, old, new, why in RENAMED_KEYS:
        top, _, each = section.partition(".")
        block = config.get(top) or {}
        entries = block.items() if each else [(None, block)]
        for name, entry in entries:
            if isinstance(entry, dict) and old in entry:
                where = f"{top}.{name}" if name else top
                raise ConfigError(f"{where}.{old}: {why}; use {new} instead")


# The class names of the built-in datasets (torchvision's and scikit-learn's; tests/test_bad_input.py checks
# them against the loaders), so a misspelt class in the config fails before any job. A folder's are unknown
# until it is read: `subset` checks those.
BUILTIN_CLASSES = {
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
    "mnist": [f"{i} - {w}" for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])],
    "digits": [str(i) for i in range(10)],
}
# Each digit's images in data.py's fixed split of scikit-learn's 1,797 (tests pin them to the split).
DIGITS_COUNTS = {"train": [124, 127, 124, 128, 127, 127, 127, 125, 122, 126],
                 "test": [54, 55, 53, 55, 54, 55, 54, 54, 52, 54]}


def name_key(name) -> str:
    """A class name as names are compared: case-insensitive and in one Unicode form (NFC), since macOS writes
    folder names decomposed (e + combining accent) where a config typed elsewhere has the composed é."""
    import unicodedata

    return unicodedata.normalize("NFC", str(name)).casefold()


def class_index(spec, classes: list[str], field: str, dataset: str = "this dataset") -> int:
    """The index of a class given by index or (case-insensitive) name; a ConfigError naming `field` if none. A name
    wins over an index: "3" is a class named 3 where there is one, and index 3 otherwise (`--config` hands every
    number in a list over as a string)."""
    lowered = [name_key(c) for c in classes]
    if isinstance(spec, str) and spec.strip().isdigit() and name_key(spec) not in lowered:
        spec = int(spec)
    if isinstance(spec, numbers.Integral):
        if not 0 <= spec < len(classes):
            raise ConfigError(f"{field}: index {spec} is out of range 0..{len(classes) - 1}")
        return int(spec)
    if spec in classes:  # exact first: a letters dataset has classes A and a
        return classes.index(spec)
    matches = [i for i, key in enumerate(lowered) if key == name_key(spec)]
    if len(matches) > 1:
        raise ConfigError(f"{field}: {spec!r} matches classes {', '.join(repr(classes[i]) for i in matches)}, which "
                          "differ only in case; give one exactly as its folder is named, or its index")
    if matches:
        return matches[0]
    raise ConfigError(f"{field}: {spec!r} is not a class of {dataset} (classes: {', '.join(classes)}); "
                      "use class names or indices")


def dataset_classes(config: dict) -> list[str] | None:
    """The dataset's class names before any job: a built-in's, a folder's class subfolders, or None (no folder)."""
    if config["dataset"] == "folder":
        return folder_class_names(config.get("data_dir"))
    return BUILTIN_CLASSES.get(config["dataset"])


def _check_minority_classes(config: dict, classes: list[str] | None) -> None:
    """The semi-balanced regime's classes against the dataset's, before any job: a built-in's, or a folder's
    class subfolders (config.yaml's default names Fashion-MNIST's, which a folder rarely has)."""
    if classes is None or "semi_balanced" not in config["grid"]["regimes"]:
        return
    wanted = ((config.get("regimes") or {}).get("semi_balanced") or {}).get("minority_classes", [])
    field, lowered = "regimes.semi_balanced.minority_classes", [name_key(n) for n in classes]
    for c in wanted:
        i = class_index(c, classes, field, config["dataset"])
        named = class_index(str(c), classes, field, config["dataset"]) if name_key(c) in lowered else i
        if named != i:  # the subset job reads every class as text, where a name wins over an index
            raise ConfigError(f"{field}: {c} is index {c} ({classes[i]!r}) and also the name of class {named}; "
                              f"give the name, '{classes[i]}' or '{classes[named]}'")


def _check_overlap_classes(config: dict, classes: list[str] | None) -> None:
    """probes.overlap_classes against the dataset's classes, where you set them: the probe job skips a name the
    dataset lacks, since the default names Fashion-MNIST's shirt / pullover / coat, so a mistyped name of yours
    would quietly shrink the group (one class has no confusion within it)."""
    probes = probes_spec(config)
    wanted = probes["overlap_classes"]
    if classes is None or not probes["enabled"] or not wanted or wanted == config_default("probes.overlap_classes"):
        return
    group = {class_index(c, classes, "probes.overlap_classes", config["dataset"]) for c in wanted}
    if len(group) < 2:
        raise ConfigError(f"probes.overlap_classes: {wanted} names one class, and a group's confusion is between two "
                          "or more; name two or more classes, or [] for none")


def _class_counts(config: dict, split: str = "train", need: int = 0) -> dict[str, int] | None:
    """Each class's training (or test) images before any job: a folder's, an IDX dataset's from its labels file,
    digits' fixed split's; None where not known yet (IDX files not downloaded). A folder without train/ and test/
    gives each class's training images at most and test images at least (the stratified split's bounds); its exact
    counts cost a scikit-learn import, paid only where the grid has `fraction` (whose apportionment follows each
    pool exactly) or a test count's bound falls below `need`."""
    ds, data_dir = config["dataset"], config.get("data_dir")
    if ds != "folder":
        counts = (DIGITS_COUNTS[split] if ds == "digits" else
                  idx_class_counts(ds, data_dir, CACHE_DIR, "train" if split == "train" else "t10k"))
        return dict(zip(BUILTIN_CLASSES[ds], counts)) if counts and len(counts) == len(BUILTIN_CLASSES[ds]) else None
    test_fraction = (config.get("folder") or {}).get("test_fraction", config_default("folder.test_fraction"))
    if split == "test":
        return folder_test_counts(data_dir, test_fraction, need)
    return folder_train_counts(data_dir, test_fraction, exact="fraction" in config["grid"]["regimes"])


def _check_validation_per_class(config: dict, counts: dict[str, int] | None) -> None:
    """validation_per_class against the dataset's smallest class, before any job: every subset job would fail on it
    (digits holds 122 training images of its smallest class)."""
    per_class = config.get("validation_per_class", config_default("validation_per_class"))
    short = sorted((n, c) for c, n in (counts or {}).items() if n <= per_class)
    if short:
        n, c = short[0]
        others = f", the fewest of the {len(short)} classes with too few" if len(short) > 1 else ""
        more = ", or add images" if config["dataset"] == "folder" else ""
        fix = (f"set validation_per_class below {n}, e.g. {max(1, n // 5)}{more}" if n > 1 else
               "a class needs at least 2 (one held out, one to train on): add images to it, or remove its folder")
        raise ConfigError(f"validation_per_class: {per_class} images of every class are held out for early stopping, "
                          f"but class {c!r} has {n} training image{'s' * (n != 1)}{others}; {fix}")


def results_name(config: dict) -> str:
    """The folder under results/ for the config's dataset: its name, or a folder dataset's `folder.name`."""
    if config["dataset"] != "folder":
        return config["dataset"]
    return (config.get("folder") or {}).get("name", config_default("folder.name"))


def _check_against_classes(config: dict) -> None:
    """The fields that name or count a dataset's classes, against its classes (a folder's read from its directory)."""
    name = results_name(config)
    if config["dataset"] == "folder" and not config.get("data_dir"):
        raise ConfigError("data_dir: dataset 'folder' needs data_dir, the root of data_dir/<class>/*.png (or of "
                          "data_dir/train/<class>/ and data_dir/test/<class>/); set it in your --configfile")
    if config["dataset"] == "folder" and name in DATASETS and name != "folder":
        raise ConfigError(f"folder.name: {name!r} is the results folder of the built-in dataset {name}; choose "
                          "another")
    classes, counts = dataset_classes(config), _class_counts(config)
    _check_minority_classes(config, classes)
    _check_overlap_classes(config, classes)
    _check_validation_per_class(config, counts)
    if classes is not None:
        _check_sizes(config, classes, counts)
    _check_test_split(config)


def _check_test_split(config: dict) -> None:
    """The test split against what is drawn from it, before any job: a folder's empty test class, test.per_class
    and the generative metrics' two draws a class. Each failed its jobs only after training (or the reference
    job); the rules are the jobs' own (subsets.check_scoring_count, subsets.metric_need, subsets.metric_count)."""
    from .subsets import check_scoring_count, metric_count, metric_need

    per_class = (config.get("test") or {}).get("per_class") or 0
    metrics = gen_metrics_spec(config)
    draws = metrics["enabled"] and bool(generator_models(config))
    need = max(per_class, metric_need(metrics["per_class"]) if draws else 0)
    counts = _class_counts(config, "test", need)
    empty = empty_test_classes(config.get("data_dir"), counts) if config["dataset"] == "folder" else []
    if empty:
        more = f" (and {len(empty) - 1} more class folders)" if len(empty) > 1 else ""
        raise ConfigError(f"data_dir: {empty[0]} holds no images{more}, so its class could never be scored; add test "
                          f"images to it, or remove class {empty[0].name!r} from both train/ and test/")
    if not counts:
        return
    try:
        check_scoring_count(list(counts.values()), per_class, list(counts))
        if draws:
            metric_count(list(counts.values()), metrics["per_class"], list(counts))
    except GenaugError as err:
        raise ConfigError(str(err)) from None


def _check_sizes(config: dict, classes: list[str], counts: dict[str, int] | None) -> None:
    """grid.sizes against the classes, before any job: a size that leaves a class without an image, or (a folder's)
    asks for more images of a class than it holds, fails every subset job of it."""
    from .subsets import RegimeParams, regime_weights, size_bounds

    grid, params, seeds = config["grid"], RegimeParams.from_config(config.get("regimes")), config["seeds"]
    held = config.get("validation_per_class", config_default("validation_per_class"))
    pools = None if counts is None else [counts[c] - held for c in classes]
    sizes = grid.get("sizes") or []
    for regime in [r for r in grid["regimes"] if r in ("balanced", "semi_balanced", "imbalanced") and sizes]:
        bounds = [size_bounds(regime_weights(regime, classes, seed, params), seed, max(sizes), pools) for seed in seeds]
        ratio = "" if regime == "balanced" else f", or lower regimes.{regime}.ratio"
        smallest = [b[0] for b in bounds]
        if None in smallest or min(sizes) < max(smallest):
            fix = (f"the smallest that gives every class one for seeds {seeds} is n{max(smallest)}"
                   if None not in smallest else "no size does within the folder's images")
            raise ConfigError(f"grid.sizes: n{min(sizes)} leaves some of the {len(classes)} classes with no image in "
                              f"regime {regime!r}; {fix}{ratio}")
        largest = [b[1] for b in bounds if b[1] is not None]
        if largest and max(sizes) > min(largest):
            raise ConfigError(f"grid.sizes: n{max(sizes)} in regime {regime!r} asks for more images of a class than "
                              f"{_holder(config)} holds (after validation_per_class: {held} held out); the largest "
                              f"size that fits for seeds {seeds} is n{min(largest)}{ratio}")
    if pools is not None:
        _check_shares(config, classes, pools, held)


def _holder(config: dict) -> str:
    """What an error says holds the images: data_dir, or a built-in dataset's name."""
    return "data_dir" if config["dataset"] == "folder" else config["dataset"]


def _check_shares(config: dict, classes: list[str], pools: list[int], held: int) -> None:
    """grid.fractions and grid.shots against the class pools: a fraction of a long tail that leaves its smallest
    class empty, or more shots than a class holds."""
    from .subsets import size_bounds

    grid = config["grid"]
    fractions, shots = grid.get("fractions") or [], grid.get("shots") or []
    if "fraction" in grid["regimes"] and fractions:
        need = max(size_bounds([float(p) for p in pools], seed, 0)[0] or sum(pools) + 1 for seed in config["seeds"])
        fit = [f for f in range(1, 101) if round(f / 100 * sum(pools)) >= need]
        if min(fractions) < (fit or [101])[0]:
            fix = f"the smallest that gives every class one is f{fit[0]}" if fit else "no fraction does"
            raise ConfigError(f"grid.fractions: f{min(fractions)} leaves some of the {len(classes)} classes of "
                              f"{_holder(config)} with no image (the smallest holds at most {min(pools)} after "
                              f"validation_per_class); {fix}")
    if "shots" in grid["regimes"] and shots and max(shots) > min(pools):
        c = classes[pools.index(min(pools))]
        raise ConfigError(f"grid.shots: k{max(shots)} asks for {max(shots)} images of every class, but class {c!r} "
                          f"has at most {min(pools)} after validation_per_class ({held}) held out; use k{min(pools)} "
                          "or fewer")


def image_side(config: dict) -> int:
    """The side of the dataset's images as the jobs see them: fashion_mnist and mnist are 28, others image_size."""
    return 28 if config["dataset"] in TORCHVISION else config.get("image_size", config_default("image_size"))


def _check_classic_shift(config: dict) -> None:
    """classic.shift against the image side: a shift of half the side or more can move an image out of its frame."""
    side, shift = image_side(config), classic_spec(config)["shift"]
    if "classic" in config["grid"]["models"] and 2 * shift >= side:
        raise ConfigError(f"classic.shift: shifts of up to {shift} px can move an image {side} px wide half or wholly "
                          f"out of its frame; use at most {(side - 1) // 2}, or about {max(1, round(side / 14))} "
                          f"(what 2 px is to 28)")


def _check_image_side(config: dict) -> None:
    """Each generator's networks against the dataset's image side, before any job (fashion_mnist and mnist are 28)."""
    side = image_side(config)
    specs = [generator_spec(config, name) for name in generator_models(config)]
    for spec in [*specs, *([autoencoder_spec(config)] if uses_autoencoder(config) else [])]:
        m = families.side_multiple(families.get(spec["family"]), spec["hparams"])
        if side % m:
            drop = ("set autoencoder.family: vae" if spec["name"] == "autoencoder" else
                    f"drop {spec['name']!r} from grid.models")
            raise ConfigError(f"image_size: {side} does not suit {spec['name']!r}, whose {spec['family']} networks "
                              f"need a side divisible by {m}; set image_size to {side - side % m} or "
                              f"{side - side % m + m}, or {drop}")


# Regimes that give every class the same number of real images, so policy balance asks for none.
EQUAL_CLASS_REGIMES = ("balanced", "shots")


def _check_synthesis_makes_images(config: dict) -> None:
    """A generator arm with no synthetic images would pass as a result (its classifier trains on the real set
    alone); refuse every synthesis setting that is known before any job to make none."""
    for name in generator_models(config):
        base = split_model(name)[0]
        spec, own = synthesis_spec(config, name), (model_entries(config)[base].get("synthesis") or {})

        def where(key):
            return f"models.{base}.synthesis.{key}" if key in own else f"synthesis.{key}"

        if spec["policy"] == "per_class" and int(spec["per_class"]) < 1:
            raise ConfigError(f"{where('per_class')}: {spec['per_class']} makes no synthetic images for {name}; give "
                              "at least 1 per class")
        if spec["policy"] == "ratio" and float(spec["ratio"]) <= 0:
            raise ConfigError(f"{where('ratio')}: {spec['ratio']} makes no synthetic images for {name}; give a ratio "
                              "above 0")
        equal = [r for r in config["grid"]["regimes"] if r in EQUAL_CLASS_REGIMES]
        if spec["policy"] == "balance" and equal:
            raise ConfigError(f"{where('policy')}: balance tops each class up to the largest, so in regime "
                              f"{equal[0]!r} (equal classes) {name} makes no synthetic images; use match, per_class "
                              "or ratio, or drop that regime from grid.regimes")


def _check_model_entry(name: str, entry: dict) -> None:
    """A `models:` entry against its family (families.py): the family exists (a user's class imports and follows
    the contract), its keys and values fit the family's hyperparameters, its label strategy is one it has."""
    import jsonschema

    where = f"models.{name}"
    try:
        family = families.get(entry["family"])
    except GenaugError as err:
        raise ConfigError(f"{where}.family: {err}") from None
    errors = list(jsonschema.Draft202012Validator(families.entry_schema(family)).iter_errors(entry))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        path = ".".join([where, *(str(p) for p in error.absolute_path)])
        raise ConfigError(f"{path}: {error.message}")
    try:
        families.label_strategy(entry)
    except GenaugError as err:
        raise ConfigError(f"{where}: {err}") from None


def _check_filters(config: dict) -> None:
    """The filters a config defines and the ones its grid names."""
    for name in config.get("filters") or {}:
        if name == NO_FILTER:
            raise ConfigError(f"filters.{name}: {name!r} is the reserved no-filter value of grid.filters; rename it")
    for name in config["grid"].get("filters") or []:
        if name != NO_FILTER and name not in filter_entries(config):
            raise ConfigError(f"grid.filters: unknown filter {name!r}; define it under `filters:` or use one of "
                              f"{', '.join([NO_FILTER, *filter_entries(config)])}")
        if name != NO_FILTER:
            filter_spec(config, name)


def check(config: dict) -> None:
    """Cross-field checks the schema cannot express; raises ConfigError naming the field and the fix."""
    grid, models = config["grid"], model_entries(config)
    for name in config.get("models") or {}:
        if name in RESERVED:
            raise ConfigError(f"models.{name}: {name!r} is a reserved row of the model axis ({', '.join(RESERVED)}); "
                              "rename it")
        _check_model_entry(name, config["models"][name])
    for name in [*grid["models"], *(grid.get("combined") or [])]:
        base = split_model(name)[0]
        if name in RESERVED and name in (grid.get("combined") or []):
            raise ConfigError(f"grid.combined: {name!r} has no synthetic set; list generators only")
        if name not in RESERVED and base not in models:
            field = "grid.models" if name in grid["models"] else "grid.combined"
            close = difflib.get_close_matches(base, [*ARMS, *models], n=1)
            raise ConfigError(f"{field}: unknown model {base!r}{f' (did you mean {close[0]!r}?)' if close else ''}; "
                              f"define it under `models:` or use one of {', '.join([*ARMS, *models])}")
        if name not in RESERVED:
            sampling_spec(config, name)
            _check_clip(base, models[base])
    _check_synthesis_makes_images(config)
    _check_against_classes(config)
    if config.get("tensorboard"):
        from .board import available

        if not available():
            raise ConfigError('tensorboard: true needs the tensorboard package: pip install -e ".[tensorboard]" '
                              "(or set tensorboard: false)")
    if COMBINED in grid["models"] and len(combined_members(config)) < 2:
        raise ConfigError("grid.models has 'combined', which mixes the synthetic sets of two or more generators; "
                          "list them in grid.combined (or put two or more generators in grid.models)")
    for name in grid["classifiers"]:
        if name not in classifier_entries(config):
            raise ConfigError(f"grid.classifiers: unknown classifier {name!r}; define it under `classifiers:` or "
                              f"use one of {', '.join(classifier_entries(config))}")
    for regime in grid["regimes"]:
        if not size_tokens(config, regime):
            axis = {"fraction": "grid.fractions", "shots": "grid.shots"}.get(regime, "grid.sizes")
            raise ConfigError(f"{axis} is empty but grid.regimes has {regime!r}; give it at least one value")
    _check_filters(config)
    if autoencoder_spec(config)["family"] not in ("vae", "conv_vae"):
        raise ConfigError(f"autoencoder.family: {autoencoder_spec(config)['family']!r}; the filter and M2/M4 need a "
                          "Gaussian VAE's encoder: use vae or conv_vae")
    gc = gencls_spec(config)
    check_gencls(gc["m"], gc["L"], gc["N"], gc["mu"])
    weights = gen_metrics_spec(config)["inception_weights"]
    if weights and find_inception_weights(weights)[0] is None:
        raise ConfigError(f"gen_metrics.inception_weights: {weights} is not a file; give pytorch-fid's "
                          f"{FID_WEIGHTS_NAME}, or null to use torch hub's cache (else Inception FID is unavailable)")
    if len(set(config["seeds"])) != len(config["seeds"]):
        raise ConfigError("seeds: a seed is listed twice; replicates need distinct seeds")
    _check_classic_shift(config)
    _check_image_side(config)  # last: it builds every generator's spec, which needs the checks above


FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"  # the file pytorch-fid downloads into torch hub's cache


def find_inception_weights(path=None):
    """(pytorch-fid's Inception weights file or None, why): the configured path, else torch hub's cache
    ($TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub, as torch.hub.get_dir)."""
    import os

    if path:
        p = Path(path).expanduser()
        return (p, f"configured file {p}") if p.is_file() else (None, f"gen_metrics.inception_weights {p} is missing")
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    cached = Path(torch_home) / "hub" / "checkpoints" / FID_WEIGHTS_NAME
    if cached.is_file():
        return cached, f"torch hub cache {cached}"
    return None, (f"no Inception weights: {FID_WEIGHTS_NAME} is not in the torch hub cache ({cached.parent}) and "
                  "gen_metrics.inception_weights is not set (it cannot be downloaded here)")


def gen_metrics_spec(config: dict) -> dict:
    """The gen_metrics section with its defaults."""
    spec = section_defaults("gen_metrics")
    spec.update(config.get("gen_metrics") or {})
    return spec


def probes_spec(config: dict) -> dict:
    """The probes section with its defaults."""
    spec = section_defaults("probes")
    spec.update(config.get("probes") or {})
    return spec


def _check_clip(name: str, entry: dict) -> None:
    """A CLIP-guided model fails at config time, not after hours of training, when its weights are missing."""
    import os

    if entry["family"] != "clip_guided":
        return
    weights = entry.get("clip_weights")
    if not weights:
        raise ConfigError(f"models.{name}.clip_weights: CLIP-guided sampling needs local open_clip weights for "
                          f"clip_model {entry.get('clip_model', 'ViT-B-32')!r} (they cannot be downloaded here); "
                          "set the path, or drop the model from grid.models")
    if not os.path.isfile(weights):
        raise ConfigError(f"models.{name}.clip_weights: {weights} is not a file; give the open_clip checkpoint's path")


def _effort(config: dict) -> dict:
    return EFFORT[config.get("effort", config_default("effort"))]


def generator_spec(config: dict, model: str) -> dict:
    """Everything train_gen needs about one model, with the effort preset applied to its steps.

    `model` may be a model-axis name; its sampling token does not change the trained model."""
    model = split_model(model)[0]
    entry = dict(model_entries(config)[model])
    effort = _effort(config)
    steps = max(effort["gen_min_steps"], round(entry.get("steps", 2000) * effort["gen_step_scale"]))
    train = {"steps": int(steps), "batch_size": entry.get("batch_size", 128), "lr": entry.get("lr", 1e-3)}
    if entry.get("precision", "fp32") != "fp32":  # only then: an fp32 spec stays as before, nothing reruns
        train["precision"] = entry["precision"]
    return {
        "name": model,
        "family": entry["family"],
        "per_class": bool(entry.get("per_class", False)),
        "label_strategy": entry.get("label_strategy"),
        "hparams": {k: v for k, v in entry.items() if k not in MODEL_KEYS},
        "train": train,
    }


SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
# The synthesis section's defaults live here, not in the schema: a model's own `synthesis` block overrides only
# the keys it names, which schema defaults (filled into every block) would defeat.
SYNTHESIS_DEFAULTS = {"policy": "match", "per_class": 500, "ratio": 1.0, "min_confidence": 0.9, "min_diversity": 0.2}


@functools.lru_cache(maxsize=None)
def _schema() -> dict:
    import yaml

    with open(SCHEMA_PATH) as f:
        return yaml.safe_load(f)


def config_default(key: str):
    """The default of a dotted config key (e.g. `regimes.imbalanced.ratio`) from the one place it is set: the
    schema, or SYNTHESIS_DEFAULTS for `synthesis.*`."""
    section, _, name = key.partition(".")
    if section == "synthesis":
        return SYNTHESIS_DEFAULTS[name]
    schema = node = _schema()
    for part in key.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            raise KeyError(f"{key}: no such key in {SCHEMA_PATH.name}")
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    if "default" not in node:
        raise KeyError(f"{key}: {SCHEMA_PATH.name} gives it no default")
    return node["default"]


def prepare_settings(config: dict) -> dict:
    """`prepare`'s arguments for the config's own dataset (where it is, how a folder's images are read), defaults
    filled in: the one mapping that the grid's `prepare` rule and `genaug bench` share."""
    folder = config.get("folder") or {}
    return {"data_dir": config.get("data_dir"), "image_size": config.get("image_size", config_default("image_size")),
            **{k: folder.get(k, config_default(f"folder.{k}")) for k in ("channels", "fit", "test_fraction")}}


def prepare_options(config: dict) -> dict:
    """prepare_settings as the `prepare` rule's command-line params. `--fit` appears only off its default, so a
    dataset prepared before folder.fit existed is not read again (Snakemake reruns a job whose params change)."""
    import shlex

    s = prepare_settings(config)
    fit = f" --fit {s['fit']}" if s["fit"] != config_default("folder.fit") else ""
    return {"data_dir": f"--data-dir {shlex.quote(s['data_dir'])}" if s["data_dir"] else "",
            "folder": f"--image-size {s['image_size']} --channels {s['channels']} --test-fraction {s['test_fraction']}"
            + fit}


def section_defaults(section: str) -> dict:
    """Every default the schema gives the keys of a config section (a fresh dict: callers update it)."""
    import copy

    node = _schema()["properties"][section]
    return {k: copy.deepcopy(v["default"]) for k, v in (node.get("properties") or {}).items() if "default" in v}


def synthesis_spec(config: dict, model: str) -> dict:
    """The count policy for one model: the global `synthesis` section, overridden by the model's own."""
    spec = dict(SYNTHESIS_DEFAULTS)
    spec.update(config.get("synthesis") or {})
    spec.update((model_entries(config)[split_model(model)[0]].get("synthesis") or {}))
    if config.get("effort") == "smoke":
        # smoke trains generators for 1 % of their steps: samples near the mean image are expected there
        spec["min_diversity"] = 0.0
    return spec


def classifier_spec(config: dict, name: str) -> dict:
    """Architecture options and training settings for one classifier; the step budget from the effort preset."""
    entry = dict(classifier_entries(config)[name])
    effort = _effort(config)
    train = {"max_steps": effort["clf_max_steps"], "eval_every": effort["clf_eval_every"],
             "patience_steps": effort["clf_patience_steps"]}
    train.update({k: entry.pop(k) for k in CLASSIFIER_TRAIN_KEYS if k in entry})
    return {"name": name, "arch": entry.pop("arch"), "hparams": entry, "train": train}


# Whether a left-right mirrored image keeps its class: a shoe stays a shoe, a 3 does not. A folder
# dataset is mirror-safe only when config.yaml says so (folder.mirror_safe): genaug cannot tell.
MIRROR_SAFE = {"fashion_mnist": True, "mnist": False, "digits": False}


def flip_for(flip, dataset: str, mirror_safe: bool = False) -> bool:
    """The classic arm's flip setting made concrete: `auto` flips only a mirror-safe dataset."""
    if flip == "auto":
        return MIRROR_SAFE.get(dataset, bool(mirror_safe))
    return bool(flip)


def classic_spec(config: dict) -> dict:
    """Settings of the `classic` augmentation arm, with `flip: auto` resolved for the dataset."""
    spec = section_defaults("classic")
    spec.update(config.get("classic") or {})
    spec["flip"] = flip_for(spec["flip"], config["dataset"], (config.get("folder") or {}).get("mirror_safe", False))
    return spec


def _schema_validator(schema_path):
    import jsonschema
    import yaml

    with open(schema_path) as f:
        return jsonschema.Draft202012Validator(yaml.safe_load(f))


_SCALAR_TYPES = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                 "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                 "boolean": lambda v: isinstance(v, bool), "null": lambda v: v is None}


_CORE_WORDS = {"true", "false", "null", "~"}  # YAML 1.2's booleans and null
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def coerce_command_line(config: dict, schema_path) -> list[str]:
    """Give a string the type its key wants where it reads as one (in place); returns the fields changed.

    Snakemake reads the lists and mappings of `--config` with YAML's BaseLoader, so `--config seeds='[0,1,2]'`
    arrives as ['0', '1', '2'] and `regimes='{imbalanced: {ratio: 10}}'` as '10', which the schema would refuse
    although the user typed numbers. Only strings the schema refuses for their type, and that read as a number,
    true, false or null (YAML 1.2's words, not 1.1's yes and no) of a type the schema accepts there, change; so
    does `lr: 1e-3` in a config file, which PyYAML reads as text. `models:` entries follow in
    coerce_model_entries, once a user's generator modules are importable."""
    return _coerce(config, _schema_validator(schema_path))


def expand_paths(config: dict) -> None:
    """`~` and `$VARS` in the config's paths, expanded in place (data_dir: ~/datasets/cats, $SCRATCH/imgs), as a
    shell would: data_dir, python_path, gen_metrics.inception_weights and a model entry's path."""
    import os

    def expand(value):
        return os.path.expanduser(os.path.expandvars(value)) if isinstance(value, str) else value

    config["data_dir"] = expand(config.get("data_dir"))
    if isinstance(config.get("python_path"), list):
        config["python_path"] = [expand(p) for p in config["python_path"]]
    if isinstance(config.get("gen_metrics"), dict) and "inception_weights" in config["gen_metrics"]:
        config["gen_metrics"]["inception_weights"] = expand(config["gen_metrics"]["inception_weights"])
    for entry in (config.get("models") or {}).values():
        if isinstance(entry, dict) and "path" in entry:
            entry["path"] = expand(entry["path"])


def coerce_model_entries(config: dict) -> list[str]:
    """coerce_command_line for each `models:` entry, against its family's hyperparameters (families.py)."""
    import jsonschema

    changed = []
    for name, entry in (config.get("models") or {}).items():
        try:
            family = families.get(entry["family"])
        except (GenaugError, KeyError, TypeError):
            continue  # check() names what is wrong with the entry
        validator = jsonschema.Draft202012Validator(families.entry_schema(family))
        changed += [f"models.{name}.{path}" for path in _coerce(entry, validator)]
    return changed


def _coerce(obj, validator) -> list[str]:
    """The fixes of coerce_command_line on `obj` against `validator`'s schema. A fixed value is no longer a string,
    so each field changes at most once; the schema is checked again after each round, since a fix can change which
    branch of it applies."""
    changed = []
    while True:
        fixes = {}
        for err in _type_errors(validator.iter_errors(obj)):
            path = tuple(err.absolute_path)
            value = _typed(err)
            if path not in fixes and value is not _UNTYPED:
                fixes[path] = value
        if not fixes:
            return changed
        for (*parents, last), value in fixes.items():
            node = obj
            for key in parents:
                node = node[key]
            node[last] = value
        changed += [".".join(str(p) for p in path) for path in fixes]


_UNTYPED = object()  # _typed's answer for a string that is not what the schema wants there


def _typed(err):
    """The value a string refused for its type stands for, where it reads as one of the types wanted there."""
    import yaml

    wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
    try:
        value = yaml.safe_load(err.instance)
    except yaml.YAMLError:
        return _UNTYPED
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        value = float(value)  # 1e-3: YAML 1.1 (PyYAML) reads a float without a dot as text
    if (isinstance(value, bool) or value is None) and err.instance.strip().lower() not in _CORE_WORDS:
        return _UNTYPED  # yes, no, on, off, '': YAML 1.1's words, ambiguous in a string the user quoted
    return value if any(_SCALAR_TYPES.get(t, lambda v: False)(value) for t in wanted) else _UNTYPED


def _type_errors(errors):
    """Type errors on strings, including those inside anyOf / oneOf branches."""
    for err in errors:
        if err.validator == "type" and isinstance(err.instance, str) and err.absolute_path:
            yield err
        yield from _type_errors(err.context or [])


_KEY_PATH = re.compile(r"[\w@-]+(?:\.[\w@-]+)*(?=[: ]|$)")  # grid.sizes.0: ...


def config_source(message: str, layers: list[tuple[str, Mapping]]) -> str:
    """Which config file a message about a config field should name: `layers` are (name, mapping) from the highest
    precedence down (--config, the --configfile files last to first, config.yaml), and the first that sets the
    message's leading key path, or a value above it, is the source. A field no layer sets (a default, or the
    grid as a whole) names them all, so a user with their own --configfile is not sent to edit config.yaml."""
    match = _KEY_PATH.match(message)
    keys = match.group(0).split(".") if match else []
    for name, layer in layers:
        node = layer
        for depth, key in enumerate(keys):
            if not isinstance(node, Mapping) or key not in node:
                break
            node = node[key]
            if not isinstance(node, Mapping) or depth == len(keys) - 1:
                return name
    names = [name for name, layer in reversed(layers) if layer]
    return " + ".join(names) if len(names) > 1 else (names or ["config.yaml"])[0]


def explain_schema_error(config: dict, schema_path) -> str:
    """One line naming the config field that breaks the schema, for when snakemake's validate fails."""
    import jsonschema

    errors = list(_schema_validator(schema_path).iter_errors(config))
    # A wrong value can also fail a conditional branch's `required` (per_class: "yes" is not true, so the
    # branch for per-class false asks for label_strategy): name the value's own error first.
    error = jsonschema.exceptions.best_match([e for e in errors if e.validator != "required"] or errors)
    if error is None:
        return "does not match workflow/schemas/config.schema.yaml"
    where = ".".join(str(p) for p in error.absolute_path) or "top level"
    return f"{where}: {error.message}"


def _allowed(node: dict) -> str:
    """A schema node's type and bounds in words, for docs/config.md."""
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kinds = node.get("type", "")
    words = [" or ".join(kinds) if isinstance(kinds, list) else str(kinds)]
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
                      ("minItems", "items >="), ("maxItems", "items <=")):
        if key in node:
            words.append(f"{word} {node[key]}")
    if "pattern" in node:
        words.append(f"matching `{node['pattern']}`")
    if isinstance(node.get("items"), dict) and ("enum" in node["items"] or "type" in node["items"]):
        words.append(f"of {_allowed(node['items'])}")
    return " ".join(w for w in words if w)


def schema_markdown(schema_path) -> str:
    """docs/config.md: every config key with its type, default and description, from the schema (the one place
    they live). `python -m genaug.config` prints it; tests/test_workflow.py fails when the page drifts."""
    import yaml

    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    defs = schema.get("$defs", {})
    lines = ["# Config reference", "",
             "Generated from `workflow/schemas/config.schema.yaml` by `cd workflow && python -m genaug.config > "
             "../docs/config.md`; a test fails when this page and the schema drift apart. A model entry's "
             "family hyperparameters are in [families.md](families.md).", "",
             "| key | allowed | default | what |", "|---|---|---|---|"]

    def walk(node: dict, path: str, depth: int = 0) -> None:
        if "$ref" in node:
            target = defs.get(node["$ref"].split("/")[-1], {})
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        if path:
            default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
            what = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
            allowed = _allowed(node).replace("|", "\\|")
            lines.append(f"| `{path}` | {allowed} | {default} | {what} |")
        for key, child in (node.get("properties") or {}).items():
            if depth < 3:
                walk(child, f"{path}.{key}" if path else key, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra and depth < 3:
            walk(extra, f"{path}.<name>", depth + 1)

    walk(schema, "")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(schema_markdown(SCHEMA_PATH), end="")
