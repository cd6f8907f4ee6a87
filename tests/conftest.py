"""Shared fixtures: small real datasets (scikit-learn digits, Fashion-MNIST when installed) and paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FMNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
BIN = Path(sys.executable).parent  # the venv's bin: genaug and snakemake


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
