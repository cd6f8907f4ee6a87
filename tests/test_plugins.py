"""A user's generator, by import path or entry point: judged by the grid like a built-in."""

import re
import sys

import pytest
import torch
import yaml

from genaug import families
from genaug import generators as gens
from genaug.data import to_float
from genaug.errors import GenaugError

from .helpers import REPO, snakemake

EXAMPLE = REPO / "examples" / "my_generator"


@pytest.fixture
def example_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    families._RESOLVED.clear()
    yield
    families._RESOLVED.clear()


def test_the_example_generator_trains_through_the_shared_loop_and_honours_labels(digits, example_importable,
                                                                                 quiet):
    spec = {"name": "lg", "family": "latent_gaussian:LatentGaussian", "per_class": False, "label_strategy": None,
            "hparams": {"hidden": 64, "latent_dim": 6}}
    family = families.get(spec["family"])
    assert family.kind == "plugin" and family.conditional and gens.label_strategy(spec) == "conditional"
    model = gens.build(spec, digits.image_shape, 10)
    x, y = to_float(digits.train_x[:500]), digits.train_y[:500]
    history = gens.train(model, x, y, {"steps": 300, "batch_size": 64, "lr": 2e-3}, seed=0,
                         log=quiet)
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    labels = torch.arange(10).repeat_interleave(20)
    imgs = model.sample(labels, torch.Generator().manual_seed(0))
    assert imgs.shape == (200, *digits.image_shape) and 0 <= imgs.min() and imgs.max() <= 1
    means = torch.stack([x[y == c].mean(0) for c in range(10)]).flatten(1)  # nearest class mean of each sample
    nearest = torch.cdist(imgs.flatten(1), means).argmin(1)
    assert (nearest == labels).float().mean() > 0.6


class TrainsItself(gens.Generator):
    """A class with its own fit: genaug calls it instead of the shared loop."""

    conditional = True

    def __init__(self, image_shape, num_classes):
        super().__init__(image_shape, num_classes)
        self.means = torch.nn.Parameter(torch.zeros(num_classes, *image_shape))

    def fit(self, x, y, *, steps, batch_size, lr, seed, log, **_):
        for c in range(self.num_classes):
            self.means.data[c] = x[y == c].mean(0)
        return [{"step": steps, "loss": 0.0}]

    def sample(self, labels, gen):
        return self.means[labels].detach()


def test_a_class_with_its_own_fit_is_trained_by_it(digits):
    families._RESOLVED.clear()
    spec = {"name": "own", "family": "tests.test_plugins:TrainsItself", "hparams": {}}
    model = gens.build(spec, digits.image_shape, 10)
    x, y = to_float(digits.train_x[:200]), digits.train_y[:200]
    assert gens.train(model, x, y, {"steps": 5, "batch_size": 8, "lr": 1e-3}, seed=0) == [{"step": 5, "loss": 0.0}]
    assert torch.allclose(model.sample(torch.tensor([3]), None)[0], x[y == 3].mean(0))


class NoSample(gens.Generator):
    def loss(self, x, y):
        return x.mean(), {}


class ReconstructsNothing(NoSample):
    can_reconstruct = True

    def sample(self, labels, gen):
        return torch.zeros(len(labels), *self.image_shape)


class NoLoss(gens.Generator):
    def sample(self, labels, gen):
        return torch.zeros(len(labels), *self.image_shape)


class BadConstructor(NoLoss):
    def __init__(self, width):
        super().__init__((1, 8, 8), 10)

    def loss(self, x, y):
        return x.mean(), {}


@pytest.mark.parametrize("cls,missing", [
    ("NoSample", "sample(labels, gen)"),
    ("NoLoss", "loss(x, y) -> (loss, parts) for the shared training loop, or its own fit"),
    ("ReconstructsNothing", "reconstruct(x, y, gen), since can_reconstruct is true"),
    ("BadConstructor", "a constructor cls(image_shape, num_classes, **hparams)"),
])
def test_a_class_that_breaks_the_contract_is_named_with_what_it_lacks(cls, missing):
    families._RESOLVED.clear()
    with pytest.raises(GenaugError, match=rf"family 'tests.test_plugins:{cls}' \(tests.test_plugins:{cls}\) does "
                                          rf"not follow genaug's generator contract; it lacks: .*{re.escape(missing)}"):
        families.get(f"tests.test_plugins:{cls}")


def test_an_installed_package_registers_a_family_by_entry_point(tmp_path, monkeypatch):
    """A distribution on the path whose entry_points.txt names the class under genaug.generators."""
    dist = tmp_path / "mygens-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mygens\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[genaug.generators]\nlatent = latent_gaussian:LatentGaussian\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    families._RESOLVED.clear()
    family = families.get("latent")
    assert family.target == "latent_gaussian:LatentGaussian" and family.conditional
    families._RESOLVED.clear()


@pytest.mark.e2e
def test_the_example_config_runs_end_to_end_and_its_generator_is_judged_like_a_builtin(tmp_path):
    """examples/my_generator/config.yaml as shipped, but for its python_path (made absolute for the temp
    workdir) and two of its three seeds (the suite's time)."""
    config = yaml.safe_load((EXAMPLE / "config.yaml").read_text())
    config["python_path"], config["seeds"] = [str(EXAMPLE)], [0, 1]
    r = snakemake(tmp_path, "--cores", "2", config=config)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    page = (tmp_path / "results" / "report.html").read_text()
    answer = page.split("<h2 id=answer>")[1].split("<h2 ")[0]  # the best arm of the cell, whichever it is
    gains = page.split("<h2 id=gains>")[1].split("<h2 ")[0]  # every arm's paired gain, built-ins' alike
    assert "latent_gaussian" in answer or "classic" in answer
    assert "<td class=l>latent_gaussian</td>" in gains and "<td class=l>classic</td>" in gains
    import pandas as pd

    summary = pd.read_csv(tmp_path / "results" / "digits" / "summary.csv")
    rows = summary[summary["model"] == "latent_gaussian"]
    assert len(rows) == 2 and set(rows["status"]) == {"ok"} and rows["n_synthetic"].min() > 0
    assert (rows["accuracy"] > 0.5).all()
    metrics = pd.read_csv(tmp_path / "results" / "digits" / "gen_metrics.csv")
    assert "latent_gaussian" in set(metrics["model"])
    assert sys.executable  # the jobs imported latent_gaussian from python_path: none failed above


def test_a_module_that_raises_on_import_is_named_with_its_error(tmp_path, monkeypatch):
    (tmp_path / "broken_gen.py").write_text("import torch\nraise ValueError('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    families._RESOLVED.clear()
    with pytest.raises(GenaugError, match=r"family 'broken_gen:G': importing module 'broken_gen' raised ValueError: "
                                          r"no GPU here"):
        families.get("broken_gen:G")
