"""Turn a validated config.yaml into per-rule specs: the effort preset, model and classifier settings.

The Snakefile imports this module, so it must not import torch. The JSON schema checks each
value; `check` adds the checks that span fields (a model in the grid must be defined, ...).
"""

from __future__ import annotations

from .errors import GenaugError

ARMS = ("baseline", "classic")  # rows of the model axis that use no generator
FILTERS = ("none",)
# Families whose training asks the scheduler for a GPU (resource `gpu`): the GAN and diffusion
# families (issues 5 and 6). The autoencoders train well on a CPU core.
GPU_FAMILIES = frozenset({"gan", "cgan", "biggan", "stylegan", "ddpm", "cddpm", "clip_guided"})
# Keys of a model entry that configure training or sampling; the rest are the family's hyperparameters.
MODEL_KEYS = ("family", "per_class", "label_strategy", "synthesis", "steps", "batch_size", "lr")

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
    "cvae": {"family": "cvae", "hidden": [200, 100], "latent_dim": 20, "label_dim": 16, **_ALL_CLASSES},
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
    "biggan": {"family": "biggan", "loss": "hinge", **_GAN, "steps": 4000, "lr": 1e-4, "lr_d_scale": 4.0,
               "betas": [0.0, 0.999]},
    "stylegan": {"family": "stylegan", "loss": "vanilla", "r1": 0.01, "reg_every": 16, "per_class": True, **_GAN,
                 "lr": 1e-3, "lr_d_scale": 1.0, "betas": [0.0, 0.99]},  # StyleGAN2's lazy R1
})
AUTOENCODER_FAMILIES = ("vae", "conv_vae", "cvae", "vqvae")
GAN_FAMILIES = ("gan", "cgan", "biggan", "stylegan")
CLASSIFIER_TRAIN_KEYS = ("max_epochs", "patience", "batch_size", "lr", "weight_decay")

# Effort presets. Classifier epochs are caps (early stopping usually ends sooner); generator
# steps in config.yaml are `paper` values and are scaled down for the cheaper presets.
EFFORT = {
    "smoke": {"clf_max_epochs": 2, "clf_patience": 1, "gen_step_scale": 0.01, "gen_min_steps": 10},
    "quick": {"clf_max_epochs": 40, "clf_patience": 4, "gen_step_scale": 0.5, "gen_min_steps": 50},
    "paper": {"clf_max_epochs": 100, "clf_patience": 10, "gen_step_scale": 1.0, "gen_min_steps": 50},
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


def generator_models(config: dict) -> list[str]:
    return [m for m in config["grid"]["models"] if m not in ARMS]


def check(config: dict) -> None:
    """Cross-field checks the schema cannot express; raises ConfigError naming the field and the fix."""
    grid, models = config["grid"], model_entries(config)
    for name in config.get("models") or {}:
        if name in ARMS:
            raise ConfigError(f"models.{name}: {name!r} is reserved for the arm without a generator; rename it")
    for name in grid["models"]:
        if name not in ARMS and name not in models:
            raise ConfigError(
                f"grid.models: unknown model {name!r}; define it under `models:` or use one of "
                f"{', '.join([*ARMS, *models])}"
            )
    for name in grid["classifiers"]:
        if name not in (config.get("classifiers") or {}):
            raise ConfigError(f"grid.classifiers: {name!r} has no entry under `classifiers:`; add one")
    for regime in grid["regimes"]:
        if not size_tokens(config, regime):
            axis = {"fraction": "grid.fractions", "shots": "grid.shots"}.get(regime, "grid.sizes")
            raise ConfigError(f"{axis} is empty but grid.regimes has {regime!r}; give it at least one value")
    if len(set(config["seeds"])) != len(config["seeds"]):
        raise ConfigError("seeds: a seed is listed twice; replicates need distinct seeds")


def _effort(config: dict) -> dict:
    return EFFORT[config.get("effort", "quick")]


def generator_spec(config: dict, model: str) -> dict:
    """Everything train_gen needs about one model, with the effort preset applied to its steps."""
    entry = dict(model_entries(config)[model])
    effort = _effort(config)
    steps = max(effort["gen_min_steps"], round(entry.get("steps", 2000) * effort["gen_step_scale"]))
    return {
        "name": model,
        "family": entry["family"],
        "per_class": bool(entry.get("per_class", False)),
        "label_strategy": entry.get("label_strategy"),
        "hparams": {k: v for k, v in entry.items() if k not in MODEL_KEYS},
        "train": {"steps": int(steps), "batch_size": entry.get("batch_size", 128), "lr": entry.get("lr", 1e-3)},
    }


def synthesis_spec(config: dict, model: str) -> dict:
    """The count policy for one model: the global `synthesis` section, overridden by the model's own."""
    spec = {"policy": "match", "per_class": 500, "ratio": 1.0, "min_confidence": 0.9, "min_diversity": 0.2}
    spec.update(config.get("synthesis") or {})
    spec.update((model_entries(config)[model].get("synthesis") or {}))
    if config.get("effort") == "smoke":
        # smoke trains generators for 1 % of their steps: samples near the mean image are expected there
        spec["min_diversity"] = 0.0
    return spec


def classifier_spec(config: dict, name: str) -> dict:
    """Architecture options and training settings for one classifier; epochs from the effort preset."""
    entry = dict(config["classifiers"][name])
    effort = _effort(config)
    train = {"max_epochs": effort["clf_max_epochs"], "patience": effort["clf_patience"]}
    train.update({k: entry.pop(k) for k in CLASSIFIER_TRAIN_KEYS if k in entry})
    return {"name": name, "arch": entry.pop("arch"), "hparams": entry, "train": train}


def classic_spec(config: dict) -> dict:
    """Settings of the `classic` augmentation arm."""
    spec = {"shift": 2, "flip": "auto", "erase_p": 0.5}
    spec.update(config.get("classic") or {})
    return spec


def explain_schema_error(config: dict, schema_path) -> str:
    """One line naming the config field that breaks the schema, for when snakemake's validate fails."""
    import jsonschema
    import yaml

    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return "does not match workflow/schemas/config.schema.yaml"
    where = ".".join(str(p) for p in error.absolute_path) or "top level"
    return f"{where}: {error.message}"
