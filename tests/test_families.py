"""The family registry (families.py) against the classes it names, and a user's class by import path."""

import inspect

import pytest

from genaug import config as gcfg
from genaug import families
from genaug.generators.base import Generator

BUILTIN = list(families.BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_each_registry_entry_says_what_its_class_says(name):
    """Flags and hyperparameters are declared once in the registry; this keeps them true to the class:
    the class loads, is a Generator, has the registry's flags, and accepts exactly the declared hyperparameters."""
    family = families.BUILTIN[name]
    cls = family.load()
    assert issubclass(cls, Generator)
    assert (family.conditional, family.can_reconstruct) == (cls.conditional, cls.can_reconstruct)
    families.check_contract(cls, family)
    params = inspect.signature(cls.__init__).parameters
    taken = {p for p, v in params.items() if v.kind == v.KEYWORD_ONLY or
             (v.kind == v.POSITIONAL_OR_KEYWORD and p not in ("self", "image_shape", "num_classes"))}
    takes_any = any(v.kind == v.VAR_KEYWORD for v in params.values())
    declared = set(family.hparams) - {"sampling"}  # sampling is set after building (set_sampling)
    assert declared <= taken or takes_any, declared - taken
    assert taken <= declared, f"constructor keywords missing from the registry: {taken - declared}"


def _arch_variants(name: str) -> list[dict]:
    """{} (the class's default arch) and each arch the family's schema lists."""
    arch = families.BUILTIN[name].hparams.get("arch", {})
    return [{}, *({"arch": a} for a in arch.get("enum", []))]


@pytest.mark.parametrize("name", [n for n in BUILTIN if families.BUILTIN[n].trains and n != "clip_guided"])
def test_the_registry_s_side_multiple_is_what_the_networks_need(name):
    """The config check refuses an image_size by the registry's side_multiple; the networks are the truth. Each
    arch builds at a side of 28 and, at 30, fails exactly where the registry says it must."""
    import torch

    from genaug import generators as gens

    family = families.BUILTIN[name]
    for hparams in _arch_variants(name):
        spec = gcfg.generator_spec({"effort": "smoke", "models": {"m": {"family": name, "per_class": not
                                    family.conditional, **hparams}}}, "m")
        m = families.side_multiple(family, spec["hparams"])
        torch.manual_seed(0)
        gens.build(spec, (1, 28, 28), 3)
        try:
            gens.build(spec, (1, 30, 30), 3)
            built = True
        except Exception:  # noqa: BLE001 - the networks' own refusal, whatever its type
            built = False
        assert built == (m == 1) or ("arch" not in hparams and m == 1 and not built), (name, hparams, m, built)


def test_config_family_sets_come_from_the_registry():
    kinds = set(gcfg.AUTOENCODER_FAMILIES) | set(gcfg.GAN_FAMILIES) | set(gcfg.DIFFUSION_FAMILIES)
    assert kinds | set(families.names("images")) == set(BUILTIN)
    assert {n for n in BUILTIN if families.get(n).samplers} == set(gcfg.DIFFUSION_FAMILIES)


def test_a_model_entry_is_checked_against_its_familys_hyperparameters():
    with pytest.raises(gcfg.ConfigError, match=r"models.g.latent_dim: 0 is less than the minimum of 1"):
        gcfg._check_model_entry("g", {"family": "cvae", "latent_dim": 0})
    with pytest.raises(gcfg.ConfigError, match=r"models.g: Additional properties are not allowed \('width' was"):
        gcfg._check_model_entry("g", {"family": "cvae", "width": 4})
    with pytest.raises(gcfg.ConfigError, match="models.g: family 'vae' is unconditional: set per_class: true or "
                                               "label_strategy: reconstruct or pseudo_label"):
        gcfg._check_model_entry("g", {"family": "vae"})
    with pytest.raises(gcfg.ConfigError, match="models.g.per_class: False was expected"):
        gcfg._check_model_entry("g", {"family": "cddpm", "per_class": True})


def test_a_new_builtin_family_needs_only_its_module_and_one_registry_entry(monkeypatch, digits, quiet):
    """What adding a family takes: a class (here a test's) and its entry. The config check, the label strategy,
    the model build and training then work with nothing else changed."""
    from genaug import generators as gens
    from genaug.data import to_float

    entry = families.Family("meanimg", "tests.test_generator_check:_Mean", "autoencoder", True, ("conditional",))
    monkeypatch.setitem(families.BUILTIN, "meanimg", entry)
    config = {"dataset": "digits", "seeds": [0], "models": {"m": {"family": "meanimg", "steps": 20}},
              "grid": {"models": ["baseline", "m"], "regimes": ["balanced"], "sizes": [100], "classifiers": ["cnn"]}}
    gcfg.check(config)
    spec = gcfg.generator_spec(config, "m")
    assert gens.label_strategy(spec) == "conditional"
    model = gens.build(spec, digits.image_shape, 10)
    history = gens.train(model, to_float(digits.train_x[:100]), digits.train_y[:100], spec["train"], seed=0,
                         log=quiet)
    assert history[-1]["loss"] < history[0]["loss"]
    with pytest.raises(gcfg.ConfigError, match="models.m: Additional properties are not allowed"):
        gcfg._check_model_entry("m", {"family": "meanimg", "width": 3})  # its hyperparameters: none declared


def test_docs_families_md_is_generated_from_the_registry():
    """docs/families.md is `python -m genaug.families`' output: a changed family changes the page (regenerate it)."""
    from .helpers import REPO

    assert (REPO / "docs" / "families.md").read_text() == families.reference_markdown(), (
        "docs/families.md is stale: run `cd workflow && python -m genaug.families > ../docs/families.md`")
