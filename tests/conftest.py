"""Shared fixtures: small real datasets (scikit-learn digits, Fashion-MNIST when installed) and paths."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FMNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
BIN = Path(sys.executable).parent  # the venv's bin: genaug and snakemake

# A grid small enough to run end to end in a test: digits, the smoke preset, every kind of model axis value.
TINY = {
    "dataset": "digits",
    "seeds": [0, 1],
    "effort": "smoke",
    "validation_per_class": 10,
    "grid": {"regimes": ["balanced", "semi_balanced"], "sizes": [100], "models": ["baseline", "classic", "vae"],
             "classifiers": ["cnn"]},
    "regimes": {"semi_balanced": {"minority_classes": [2, 6], "ratio": 6}},
    "classifiers": {"cnn": {"arch": "cnn"}},
    "models": {"vae": {"family": "vae", "per_class": True, "steps": 2000, "batch_size": 32}},
    # tests/test_report.py runs them; here they would only add jobs to every end-to-end test
    "gen_metrics": {"enabled": False},
    "probes": {"enabled": False},
}


# The evaluation grid: both real arms, mixed and synthetic-only training sets, a combined row, generative
# metrics and probes.
# One session-wide run serves tests/test_report.py and test_workflow.py's end-to-end checks.
EVAL = {
    **TINY,
    "grid": {"regimes": ["balanced"], "sizes": [100], "models": ["baseline", "classic", "vae", "combined"],
             "combined": ["vae", "cvae"], "train_sets": ["mixed", "synthetic"], "classifiers": ["softmax"]},
    "gen_metrics": {"enabled": True, "per_class": 20, "reference_epochs": 1},
    "probes": {"enabled": True, "max_points": 200, "tsne_points": 150},
}


_RUNNING = {"e2e": False}  # whether the test being set up or run is marked e2e


OPT_IN = ("slow", "slurm")  # marks whose tests run only when `-m` names them


def pytest_collection_modifyitems(config, items):
    """Leave out slow and slurm tests unless -m names them: `pytest` is the default suite, `pytest -m "not e2e"`
    its fast tier, and `pytest -m slow` or `-m slurm` the long and the cluster tests."""
    expression = config.getoption("markexpr") or ""
    skip = [m for m in OPT_IN if m not in expression]
    kept, dropped = [], []
    for item in items:
        (dropped if any(item.get_closest_marker(m) for m in skip) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _RUNNING["e2e"] = item.get_closest_marker("e2e") is not None


def snakemake(workdir, *args, config=None, **kwargs):
    """Run snakemake on the repository's Snakefile in `workdir` (with `config` as its config.yaml).

    Only an `e2e` test may: the fast tier (`pytest -m "not e2e"`) must not start Snakemake by accident."""
    if not _RUNNING["e2e"]:
        raise RuntimeError("this test runs Snakemake: mark it @pytest.mark.e2e (the fast tier leaves those out)")
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    if "--workflow-profile" not in args:  # the auto-loaded profiles/default would add keep-going and the rest
        args = ("--workflow-profile", "none", *args)
    return subprocess.run(
        [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args],
        capture_output=True, text=True, **kwargs,
    )


def run_grid(tmp_path_factory, name: str, config: dict):
    """A fresh workdir where `config`'s whole grid has run to the report (the test fails if it did not)."""
    workdir = tmp_path_factory.mktemp(name)
    r = snakemake(workdir, "--cores", "2", config=config)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return workdir


def job_counts(output: str) -> dict:
    """{rule: count} from snakemake's 'Job stats' table."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="session")
def evaluation_grid(tmp_path_factory):
    return run_grid(tmp_path_factory, "evaluation", EVAL)


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory) -> Path:
    """scikit-learn's digits at 28x28, cached as `genaug prepare` writes it."""
    from genaug import stages

    out = tmp_path_factory.mktemp("digits") / "dataset.npz"
    stages.prepare(dataset="digits", out=out, log=open(os.devnull, "w"))
    return out


@pytest.fixture(scope="session")
def digits(digits_cache):
    from genaug.data import load_dataset

    return load_dataset(digits_cache)


@pytest.fixture(scope="session")
def fmnist_labels(tmp_path_factory):
    """The real Fashion-MNIST train labels and class names (Debian's dataset-fashion-mnist)."""
    if not FMNIST_SYSTEM_DIR.is_dir():
        pytest.skip("dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    from torchvision.datasets import FashionMNIST
    from torchvision.datasets.mnist import read_label_file

    from genaug.data import locate_torchvision_root

    root = locate_torchvision_root("fashion_mnist", None, tmp_path_factory.mktemp("fmnist"))
    labels = read_label_file(str(root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte")).numpy()
    return labels, list(FashionMNIST.classes)


@pytest.fixture
def quiet():
    with open(os.devnull, "w") as f:
        yield f


def change_config(config: dict, path: str, value) -> dict:
    """A copy of `config` with the dotted `path` set to `value` (deleted for KeyError).

    A `models.<preset>` path starts from the registered preset when the config has no such entry.
    """
    from genaug.config import PRESETS

    cfg = copy.deepcopy(config)
    *parents, last = path.split(".")
    node = cfg
    for i, p in enumerate(parents):
        if node.get(p) is None:
            node[p] = copy.deepcopy(PRESETS.get(p, {})) if parents[:i] == ["models"] else {}
        node = node[p]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return cfg


def check_presets_valid(names) -> None:
    """Each registered preset passes the config schema and its family's check as a `models:` entry, and the
    grid check accepts the names with no `models:` entry at all."""
    from snakemake.utils import validate

    from genaug import config as gcfg

    base = {"dataset": "digits", "seeds": [0], "grid": {"regimes": ["balanced"], "sizes": [100],
                                                         "models": list(names), "classifiers": ["cnn"]},
            "classifiers": {"cnn": {"arch": "cnn"}}}
    for name in names:
        config = {**base, "models": {name: gcfg.PRESETS[name]}}
        validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
        gcfg.check(config)
    gcfg.check(base)
