"""Fixtures and hooks: small real datasets (scikit-learn digits, Fashion-MNIST when installed), the shared grid,
and the test tiers. What tests import lives in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from . import helpers
from .helpers import EVAL, FMNIST_SYSTEM_DIR, run_grid

OPT_IN = ("slow", "slurm")  # marks whose tests run only when `-m` names them
# One torch thread, as every job runs (device.setup_device): a test's numbers must not depend on whether an
# earlier test in the session set the thread count (a float reduction over two threads can differ in its last
# bit, and a borderline threshold with it).
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Leave out slow and slurm tests unless -m names them: `pytest` is the default suite,
    `pytest -m "not e2e and not heavy"` its fast tier, and `pytest -m slow` or `-m slurm` the long and the
    cluster tests."""
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
    helpers.RUNNING["e2e"] = item.get_closest_marker("e2e") is not None


@pytest.fixture(scope="session")
def evaluation_grid(tmp_path_factory):
    return run_grid(tmp_path_factory, "evaluation", EVAL)


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory) -> Path:
    """scikit-learn's digits at 28x28, cached as `genaug prepare` writes it."""
    from genaug import stages

    out = tmp_path_factory.mktemp("digits") / "dataset.npz"
    stages.prepare(dataset="digits", out=out, log=helpers.DISCARD)
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
    """A log that keeps nothing."""
    return helpers.DISCARD
