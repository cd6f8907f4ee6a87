"""The generator family registry: every family, built in or a user's, declared once (torch-free).

A family is its class (`module:Class`, imported only where a job builds it), what it can do (conditional
sampling, reconstruction, guidance, samplers), whether its training wants a GPU, and its hyperparameters
as JSON-schema fragments (their defaults are the class constructor's keyword defaults, so each lives in one
place). config.py's family sets, the config check of every model entry and docs/families.md come from
here. A user's family is a class given by import path (`family: "mypkg.gens:MyGenerator"`) or installed
under the entry-point group `genaug.generators`; its flags are read from the class (docs/plugins.md).
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field

from .errors import GenaugError

ENTRY_POINT_GROUP = "genaug.generators"
STRATEGIES = ("per_class", "conditional", "reconstruct", "pseudo_label")
# What a model entry holds besides its family's hyperparameters (config.MODEL_KEYS is this).
MODEL_KEYS = ("family", "per_class", "label_strategy", "synthesis", "sampling", "steps", "batch_size", "lr",
              "precision")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _int(minimum: int = 1, description: str | None = None) -> dict:
    return {**({"description": description} if description else {}), "type": "integer", "minimum": minimum}


def _num(description: str | None = None, **bounds) -> dict:
    return {**({"description": description} if description else {}), "type": "number", **bounds}


def _ints(description: str, n: int | None = 2) -> dict:
    size = {"minItems": n, "maxItems": n} if n else {"minItems": 2}
    return {"description": description, "type": "array", "items": {"type": "integer", "minimum": 1}, **size}


def _enum(description: str, *values) -> dict:
    return {"description": description, "enum": list(values)}


_VAE = {
    "hidden": _ints("the two hidden layer widths"),
    "latent_dim": _int(),
    "beta": _num("KL weight (the final one when annealing)", minimum=0),
    "anneal_epochs": _num("epochs over which beta ramps linearly from 0 (0 = no annealing)", minimum=0),
    "corruption": _enum("train as a denoising VAE on inputs corrupted this way (000's DVAE)",
                        "gaussian", "salt_pepper", "rotation", "brightness", "contrast", "blur"),
    "corruption_strength": _num("gaussian noise std, salt_pepper pixel fraction, rotation max degrees, brightness "
                                "max offset, contrast max factor change, blur sigma in pixels (defaults 0.2, 0.1, "
                                "30, 0.3, 0.5, 1.0)", minimum=0),
    "prior": _enum("where sampled latents come from: normal, N(0, I); gmm, a full-covariance Gaussian mixture "
                   "fitted after training to the encoded training images (per class for cvae; Ghosh et al. 2020)",
                   "normal", "gmm"),
    "prior_components": _int(1, "gmm components per class (at most one per ten of the class's images)"),
}
_GAN = {
    "loss": _enum("vanilla (non-saturating) | lsgan | wgan (weight clipping) | wgan_gp | hinge",
                  "vanilla", "lsgan", "wgan", "wgan_gp", "hinge"),
    "latent_dim": _int(3),
    "width": _int(1, "base channel width of the conv networks"),
    "diffaugment": {"description": "DiffAugment policies applied to real and fake images before the discriminator "
                                   "([] = off)", "type": "array", "items": {"enum": ["color", "translation", "cutout"]},
                    "uniqueItems": True},
    "r1": _num("weight (gamma) of the R1 penalty on real images (0 = off)", minimum=0),
    "mode_seeking": _num("weight of MSGAN's mode-seeking term (Mao et al. 2019): two samples of one label are "
                         "rewarded for differing as much as their z do, against a generator that ignores z (0 = off)",
                         minimum=0),
    "gp": _num("gradient-penalty weight (loss wgan_gp)", minimum=0),
    "n_critic": _int(1, "discriminator updates per generator update"),
    "reg_every": _int(1, "apply the R1 / gradient penalty lazily, in its own update every this many steps (1: in "
                         "every discriminator update)"),
    "clip": _num("weight clipping bound of the critic (loss wgan)", exclusiveMinimum=0),
    "ema": _num("decay of the generator weights' moving average used for sampling (0 = off)", minimum=0,
                exclusiveMaximum=1),
    "lr_d_scale": _num("the discriminator's lr over the generator's (TTUR)", exclusiveMinimum=0),
    "betas": {"description": "Adam betas of both networks", "type": "array",
              "items": {"type": "number", "minimum": 0, "exclusiveMaximum": 1}, "minItems": 2, "maxItems": 2},
}
_MBSTD = {"mbstd": {"description": "a minibatch-std feature map in the dcgan discriminators (StyleGAN's cue "
                                   "against a batch without variety; a cdcgan_r1 step takes 1.5x as long on one CPU "
                                   "thread, and its CAS did not rise: docs/measured/2026-12-05-gan-screens.md)",
                    "type": "boolean"}}
_SAMPLING = {
    "description": "default sampling (a grid name's @token overrides it): sampler ddpm (ancestral) | ddim | dpm "
                   "(DPM-Solver++), steps, eta, guidance (cddpm: classifier-free scale, 0 = unconditional; "
                   "clip_guided: CLIP gradient scale), spacing",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sampler": {"enum": ["ddpm", "ddim", "dpm"]},
        "steps": _int(),
        "eta": {"description": "DDIM's eta (>= 0; 1 is ancestral) or DPM-Solver++'s noise (0 = the ODE solver, 1 = "
                               "SDE-DPM-Solver++); auto (the default) is 1 for dpm and 0 for ddim and ddpm",
                "oneOf": [{"type": "number", "minimum": 0}, {"const": "auto"}]},
        "guidance": _num(minimum=0),
        "spacing": _enum("where the steps fall on the noise schedule: auto (the sampler's best: lu, uniform in "
                         "log-SNR, for dpm and ddim with eta 0 or 1; linspace for ddim with 0 < eta < 1; leading for "
                         "ddpm), lu, karras, linspace, leading or trailing",
                         "auto", "lu", "karras", "linspace", "leading", "trailing"),
    },
}
_DIFFUSION = {
    "channels": _ints("the UNet's channels per resolution level; the side is halved between levels", None),
    "layers_per_block": _int(1, "ResNet layers per UNet block"),
    "attention": {"description": "self-attention at the lowest resolution and in the middle block", "type": "boolean"},
    "norm_groups": _int(1, "GroupNorm groups (must divide every channels entry)"),
    "prediction": _enum("what the UNet predicts", "epsilon", "v"),
    "schedule": _enum("noise schedule: linear (Ho et al.) or cosine (Nichol and Dhariwal)", "linear", "cosine"),
    "timesteps": _int(2, "diffusion steps of training (and of full ancestral sampling)"),
    "ema": _num("decay of the weights' moving average used for sampling (0 = off)", minimum=0, exclusiveMaximum=1),
    "min_snr_gamma": _num("Min-SNR-gamma loss weighting (Hang et al. 2023): each timestep's loss clipped at this "
                          "signal-to-noise ratio; 0 (the presets) weights every timestep alike (Ho et al.). Measured "
                          "on a cddpm (docs/cpu-generators.md): 5 helped at 1,500 steps and not at quick's 3,000",
                          minimum=0),
    "log_sigma": {"description": "training noise levels: null (the presets) draws timesteps uniformly (Ho et al.); "
                                 "[mean, std] draws log sigma ~ N(mean, std^2), EDM's (Karras et al. 2022) is "
                                 "[-1.2, 1.2], and trains on the first timestep at least that noisy",
                  "type": ["null", "array"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    "sample_batch": _int(1, "images denoised at once when sampling"),
    "sampling": _SAMPLING,
}


@dataclass(frozen=True)
class Family:
    """One generator family: where its class lives and what it can do."""

    name: str
    target: str  # "module:Class", imported only when a model is built
    kind: str  # autoencoder | gan | diffusion | images (read from disk, not trained) | plugin (a user's class)
    conditional: bool  # sample() honours the labels it is given
    strategies: tuple[str, ...]  # label strategies besides per_class (which every unconditional family has)
    can_reconstruct: bool = False
    guided: bool = False  # its sampling has a guidance scale
    gpu: bool = False  # its training asks the scheduler for a GPU
    hparams: dict | None = field(default_factory=dict)  # name -> JSON schema; None: any (a user's class checks)
    required: tuple[str, ...] = ()  # hyperparameters a model entry must give
    side_multiple: int | dict = 1  # an image side must be a multiple of it (a dict: per arch; 1: any side)

    @property
    def trains(self) -> bool:
        """Its train_gen job trains a network (images reads a pool instead)."""
        return self.kind != "images"

    @property
    def samplers(self) -> bool:
        """Sampling tokens (`name@dpm20`) and a `sampling:` entry apply to it."""
        return self.kind == "diffusion"

    @property
    def per_class(self) -> bool:
        """It can be trained one copy per class (an unconditional family)."""
        return not self.conditional

    def load(self):
        """The family's class (imports torch)."""
        module, _, attr = self.target.partition(":")
        try:
            loaded = importlib.import_module(module)
        except ImportError as err:
            raise GenaugError(f"family {self.name!r}: cannot import module {module!r} ({err}); install it, or list "
                              "its folder under python_path in the config (docs/plugins.md)") from err
        except Exception as err:  # noqa: BLE001 - a user's module may fail on import in any way
            raise GenaugError(f"family {self.name!r}: importing module {module!r} raised {type(err).__name__}: "
                              f"{err}") from err
        if not hasattr(loaded, attr):
            raise GenaugError(f"family {self.name!r}: module {module!r} has no class {attr!r}")
        return getattr(loaded, attr)


def _builtin(name, target, kind, conditional, strategies, hparams, **flags) -> Family:
    return Family(name, f"genaug.generators.{target}", kind, conditional, strategies, hparams=hparams, **flags)


_AE = ("reconstruct", "pseudo_label")
_COND_AE = ("conditional", "reconstruct", "pseudo_label")
BUILTIN: dict[str, Family] = {f.name: f for f in (
    _builtin("vae", "vae:VAE", "autoencoder", False, _AE, _VAE, can_reconstruct=True),
    _builtin("conv_vae", "conv_vae:ConvVAE", "autoencoder", False, _AE, {
        **_VAE, "channels": _ints("the two conv widths"),
        "hidden": _int(1, "the dense layer between convs and latent")}, can_reconstruct=True, side_multiple=4),
    _builtin("cvae", "vae:CVAE", "autoencoder", True, _COND_AE, {
        **_VAE, "label_dim": _int(1, "width of the learned label embedding")}, can_reconstruct=True),
    _builtin("vqvae", "vqvae:VQVAE", "autoencoder", True, _COND_AE, {
        "arch": _enum("mlp (000) or conv", "mlp", "conv"), "hidden": _ints("mlp hidden widths"),
        "code_slots": _int(1, "code vectors per image (mlp; conv uses an H/4 x W/4 grid)"),
        "channels": _ints("conv widths"), "code_dim": _int(), "codebook_size": _int(2),
        "commitment": _num("weight of the commitment loss", minimum=0),
        "prior_dim": _int(4, "width of the code prior (a causal transformer)"), "prior_layers": _int(),
        "prior_heads": _int(1, "must divide prior_dim"),
        "prior_batch": _int(1, "codes per step the prior trains on (the first of each batch)"),
        "temperature": _num("sampling temperature of the prior", exclusiveMinimum=0)}, can_reconstruct=True,
        side_multiple={"conv": 4}),
    _builtin("gan", "gan_nets:GAN", "gan", False, ("pseudo_label",), {
        **_GAN, **_MBSTD, "arch": _enum("mlp (003) | dcgan | resnet (001's WGAN-GP)", "mlp", "dcgan", "resnet")},
        gpu=True, side_multiple={"dcgan": 4, "resnet": 4}),
    _builtin("cgan", "gan_nets:CGAN", "gan", True, ("conditional", "pseudo_label"), {
        **_GAN, **_MBSTD, "arch": _enum("mlp (000's cGAN) | dcgan (004's cDCGAN, labels early) | dcgan_late (cDCGAN2)",
                              "mlp", "dcgan", "dcgan_late")}, gpu=True, side_multiple=4),  # mlp: a conv D
    _builtin("biggan", "biggan:BigGAN", "gan", True, ("conditional", "pseudo_label"), {
        **_GAN, "embed_dim": _int(1, "width of the shared class embedding")}, gpu=True, side_multiple=4),
    _builtin("stylegan", "stylegan:StyleGAN", "gan", False, ("pseudo_label",), {
        **_GAN, "style_dim": _int(1, "width of the style vector w"), "mapping_layers": _int()}, gpu=True,
        side_multiple=4),
    _builtin("ddpm", "diffusion:DDPM", "diffusion", False, ("pseudo_label",), _DIFFUSION, gpu=True),
    _builtin("cddpm", "diffusion:CDDPM", "diffusion", True, ("conditional",), {
        **_DIFFUSION, "label_dropout": _num("share of training labels replaced by the null label (classifier-free "
                                            "guidance; 0 trains no unconditional branch, so only guidance 1 "
                                            "samples)", minimum=0, exclusiveMaximum=1),
        "flip_aug": _num("share of training images mirrored left-right, the model told which (non-leaking "
                         "augmentation; sampling draws unmirrored images); 0 (the presets) mirrors none",
                         minimum=0, exclusiveMaximum=1)}, guided=True, gpu=True),
    _builtin("clip_guided", "diffusion:CLIPGuided", "diffusion", True, ("conditional",), {
        **_DIFFUSION,
        "clip_model": {"description": "an open_clip architecture name (ViT-B-32) or a model-config .json path",
                       "type": "string"},
        "clip_weights": {"description": "path of the open_clip checkpoint for clip_model (required: no download)",
                         "type": ["string", "null"]},
        "prompts": {"description": "text prompt per class name (or index); other classes get prompt_template",
                    "type": "object", "additionalProperties": {"type": "string"}},
        "prompt_template": {"description": "prompt of a class without one; {} is its name", "type": "string"}},
        guided=True, gpu=True),
    _builtin("images", "images:ImagePool", "images", True, ("conditional",), {
        "path": {"description": "a folder of class folders (<path>/<class>/*.png|jpg) or an .npz of images and "
                                "labels; with layout per_cell, the folder holding <regime>/<size>/s<seed>[.npz]",
                 "type": "string", "minLength": 1},
        "layout": _enum("shared: one pool for every cell; per_cell: a pool per cell", "shared", "per_cell"),
        "resize": {"description": "images of another size or channel count are resized / converted to the "
                                  "dataset's (else refused, naming the file)", "type": "boolean"}},
        required=("path",)),
)}


def side_multiple(family: Family, hparams: dict) -> int:
    """What an image side must be a multiple of for the family's networks with these hyperparameters (1: any side).
    An arch left to the class's default is not known here: the model's build checks it."""
    m = family.side_multiple
    return m.get(hparams.get("arch"), 1) if isinstance(m, dict) else m


def names(kind: str | None = None) -> tuple[str, ...]:
    """The built-in families (of one kind)."""
    return tuple(n for n, f in BUILTIN.items() if kind is None or f.kind == kind)


def is_import_path(name: str) -> bool:
    return bool(_IMPORT_PATH.match(str(name)))


def _entry_points() -> dict[str, str]:
    """Installed packages' families: entry-point name -> "module:Class"."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


_RESOLVED: dict[str, Family] = {}


def get(name: str) -> Family:
    """The family a model entry names: built in, an installed entry point, or a class by import path.

    A user's class is imported here (once per process) and checked against the contract, so a broken one
    is one clear error before any job starts."""
    if name in BUILTIN:
        return BUILTIN[name]
    if name in _RESOLVED:
        return _RESOLVED[name]
    target = name if is_import_path(name) else _entry_points().get(name)
    if target is None:
        raise GenaugError(f"unknown generator family {name!r}; choose one of {', '.join(BUILTIN)}, give your "
                          "class as 'module:Class', or install a package that registers it under the entry-point "
                          f"group {ENTRY_POINT_GROUP!r} (docs/plugins.md)")
    probe = Family(name, target, "plugin", False, ())
    cls = probe.load()
    family = Family(name, target, "plugin", bool(getattr(cls, "conditional", False)), _plugin_strategies(cls),
                    can_reconstruct=bool(getattr(cls, "can_reconstruct", False)),
                    gpu=bool(getattr(cls, "wants_gpu", False)), hparams=None)
    check_contract(cls, family)
    _RESOLVED[name] = family
    return family


def _plugin_strategies(cls) -> tuple[str, ...]:
    out = ["conditional"] if getattr(cls, "conditional", False) else []
    if getattr(cls, "can_reconstruct", False):
        out.append("reconstruct")
    return (*out, "pseudo_label")


def check_contract(cls, family: Family) -> None:
    """What genaug needs of a user's class, checked without building it (docs/plugins.md: the contract)."""
    where = f"family {family.name!r} ({family.target})"
    if not inspect.isclass(cls):
        raise GenaugError(f"{where}: is not a class")
    from .generators.base import Generator  # torch: a user's class has imported it already

    if not issubclass(cls, Generator):
        raise GenaugError(f"{where}: subclass genaug.generators.base.Generator (it supplies the checkpoint, "
                          "device and sampling plumbing); see docs/plugins.md")
    missing = []

    def own(method):  # defined by the user's class (or a parent other than Generator)
        found = getattr(cls, method, None)
        return callable(found) and getattr(found, "__qualname__", "").split(".")[0] != "Generator"

    if not own("sample"):
        missing.append("sample(labels, gen) -> len(labels) images in [0, 1]")
    if not (own("loss") or own("phase_loss") or callable(getattr(cls, "fit", None))):
        missing.append("loss(x, y) -> (loss, parts) for the shared training loop, or its own fit(x, y, ...)")
    if getattr(cls, "can_reconstruct", False) and not own("reconstruct"):
        missing.append("reconstruct(x, y, gen), since can_reconstruct is true")
    try:
        inspect.signature(cls).bind((1, 28, 28), 10)
    except TypeError as err:
        missing.append(f"a constructor cls(image_shape, num_classes, **hparams) ({err})")
    except ValueError:
        pass  # a signature inspect cannot read: the build will tell
    if missing:
        raise GenaugError(f"{where} does not follow genaug's generator contract; it lacks: " + "; ".join(missing))


def entry_schema(family: Family) -> dict:
    """The JSON schema of a model entry of this family (shared keys + its hyperparameters)."""
    props = {key: {} for key in MODEL_KEYS}
    props["label_strategy"] = {"enum": list(family.strategies)}
    if not family.per_class:
        props["per_class"] = {"const": False}
    if not family.samplers:
        del props["sampling"]
    if not family.trains:
        for key in ("per_class", "steps", "batch_size", "lr", "precision"):
            del props[key]
    if family.hparams is None:
        return {"type": "object", "properties": props}
    return {"type": "object", "additionalProperties": False, "properties": {**props, **family.hparams},
            "required": ["family", *family.required]}


def label_strategy(entry: dict) -> str:
    """How a model entry's synthetic images get labels: per_class, conditional, reconstruct or pseudo_label."""
    family = get(entry["family"])
    if entry.get("per_class"):
        if not family.per_class:
            raise GenaugError(f"family {entry['family']!r} is conditional; per_class: true makes no sense for it")
        return "per_class"
    strategy = entry.get("label_strategy") or ("conditional" if family.conditional else None)
    if strategy is None:
        raise GenaugError(f"family {entry['family']!r} is unconditional: set per_class: true or label_strategy: "
                          f"{' or '.join(family.strategies)}")
    if strategy not in STRATEGIES:
        raise GenaugError(f"unknown label_strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy not in family.strategies:
        why = {"conditional": "is unconditional and cannot use label_strategy: conditional",
               "reconstruct": "cannot reconstruct images; use per_class: true"}.get(
            strategy, f"cannot use label_strategy: {strategy}")
        raise GenaugError(f"family {entry['family']!r} {why}")
    return strategy


def _constructor_default(cls, name: str):
    """A hyperparameter's default: the first constructor along the class's MRO that names it."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        param = inspect.signature(init).parameters.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            return param.default
    return None


def _types(kind) -> str:
    return " or ".join(kind) if isinstance(kind, list) else kind


def reference_markdown() -> str:
    """docs/families.md: every built-in family, what it can do and its hyperparameters with their defaults,
    from this registry and the classes' constructors (imports torch). `python -m genaug.families` prints it."""
    lines = ["# Generator families", "",
             "Generated from `workflow/genaug/families.py` and the classes' constructors by "
             "`python -m genaug.families > docs/families.md`; `tests/test_families.py` fails when this file drifts.",
             "A user's class by import path or entry point is described in [plugins.md](plugins.md).", "",
             "| family | kind | class | conditional | label strategies | image side | GPU when lent |",
             "|---|---|---|---|---|---|---|"]
    for f in BUILTIN.values():
        strategies = ", ".join((*(("per_class",) if f.per_class else ()), *f.strategies))
        m = f.side_multiple
        side = (", ".join(f"{a}: multiple of {k}" for a, k in m.items()) + ", else any" if isinstance(m, dict) else
                f"multiple of {m}" if m > 1 else "any")
        lines.append(f"| `{f.name}` | {f.kind} | `{f.target}` | {'yes' if f.conditional else 'no'} | {strategies} | "
                     f"{side} | {'yes' if f.gpu else 'no'} |")
    for f in BUILTIN.values():
        cls = f.load()
        lines += ["", f"## `{f.name}`", "", (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "", "",
                  "| hyperparameter | default | allowed | what |", "|---|---|---|---|"]
        for name, schema in f.hparams.items():
            default = "required" if name in f.required else f"`{_constructor_default(cls, name)!r}`"
            allowed = ("one of " + ", ".join(map(str, schema["enum"])) if "enum" in schema else
                       " ".join(str(v) for v in [_types(schema.get("type", ""))] + [
                           f"{k} {schema[k]}" for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
                                                         "minItems", "maxItems") if k in schema]))
            what = " ".join(str(schema.get("description", "")).split()).replace("|", "\\|")
            allowed = allowed.replace("|", "\\|")
            lines.append(f"| `{name}` | {default} | {allowed} | {what} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
