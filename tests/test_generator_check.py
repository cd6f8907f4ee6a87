"""`genaug check-generator`: the built-in families pass it, and each kind of broken class fails with its reason."""

import pytest
import torch

from genaug import families
from genaug.cli import main
from genaug.generator_check import DEFAULT_STEPS, run_checks
from genaug.generators.base import Generator

from .test_plugins import EXAMPLE


def results(checks):
    return {c.name.split(" (")[0]: c for c in checks}


def test_a_builtin_family_passes_every_check(capsys):
    families._RESOLVED.clear()
    assert main(["check-generator", "cvae", "--steps", "200"]) == 0
    out = capsys.readouterr().out
    assert "all 9 checks passed" in out and "killed after step 66, resumed: all 19 tensors identical" in out


def test_the_example_generator_passes_every_check(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    families._RESOLVED.clear()
    checks = run_checks("latent_gaussian:LatentGaussian", steps=300, hparams={"hidden": 64})
    assert [c.result for c in checks] == ["pass"] * 9, checks


class _Mean(Generator):
    """Learns one mean image per class; the broken variants below each break one promise."""

    conditional = True

    def __init__(self, image_shape, num_classes):
        super().__init__(image_shape, num_classes)
        self.means = torch.nn.Parameter(torch.full((num_classes, *image_shape), 0.5))

    def loss(self, x, y):
        loss = ((self.means[y] - x) ** 2).mean()
        return loss, {}

    def sample(self, labels, gen):
        noise = 0.05 * torch.randn((len(labels), *self.image_shape), generator=gen)
        return (self.means[labels].detach() + noise).clamp(0, 1)


class WrongShape(_Mean):
    def sample(self, labels, gen):
        return super().sample(labels, gen)[:, :, ::2, ::2]


class IgnoresLabels(_Mean):
    def sample(self, labels, gen):
        return super().sample(labels[torch.randperm(len(labels), generator=gen)], gen)


class NonFiniteLoss(_Mean):
    def loss(self, x, y):
        loss, parts = super().loss(x, y)
        return loss * float("nan"), parts


class OutOfRange(_Mean):
    def sample(self, labels, gen):
        return super().sample(labels, gen) * 2 - 0.5


@pytest.mark.parametrize("cls,check,reason", [
    ("_Mean", None, None),
    ("WrongShape", "samples: shape, range, per-class counts", "asked for 200 images of shape (1, 16, 16), got "
                                                              "(200, 1, 8, 8)"),
    ("IgnoresLabels", "labels honoured", "of synthetic images classified as their label (needs >= 0.3"),
    ("NonFiniteLoss", "trains 100 steps with a finite loss", "non-finite"),
    ("OutOfRange", "samples: shape, range, per-class counts", "they must lie in [0, 1]"),
    ("NoSuchClass", "imports and follows the contract", "module 'tests.test_generator_check' has no class "
                                                        "'NoSuchClass'"),
])
def test_each_broken_class_fails_the_check_it_breaks_with_its_reason(cls, check, reason):
    families._RESOLVED.clear()
    checks = results(run_checks(f"tests.test_generator_check:{cls}", steps=100))
    failed = {name: c for name, c in checks.items() if c.result == "FAIL"}
    if check is None:
        assert not failed, failed
        return
    assert list(failed) == [check], checks
    assert reason in failed[check].detail


def test_a_module_that_does_not_import_is_one_failed_row(capsys):
    assert main(["check-generator", "no_such_pkg.gens:MyGen"]) == 1
    out = capsys.readouterr().out
    assert "imports and follows the contract" in out and "cannot import module 'no_such_pkg.gens'" in out
    assert "1 of 1 checks failed" in out


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in families.BUILTIN if n not in ("clip_guided", "images")])
def test_every_builtin_family_passes_the_checks(name):
    """clip_guided is cddpm sampled with CLIP guidance, whose weights cannot be downloaded here; images trains
    nothing (tests/test_images_family.py). 300 steps, which the others pass, keep this near twenty minutes;
    vqvae's prior and the MLP cgan need the default 1,000 to learn their labels (0.22 and 0.10 of samples
    classified as asked at 300), and biggan passes at 300 by a thin margin (0.33 against 0.30), so these three
    run 1,000 (docs/measured/2026-12-03-check-generator.md)."""
    checks = run_checks(name, steps=DEFAULT_STEPS if name in ("vqvae", "cgan", "biggan") else 300)
    assert all(c.result != "FAIL" for c in checks), [c for c in checks if c.result == "FAIL"]
