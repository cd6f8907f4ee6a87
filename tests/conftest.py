"""Fixtures and hooks: small real datasets (scikit-learn digits, Fashion-MNIST when installed), the shared grid,
and the test tiers. What tests import lives in helpers.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from . import helpers
from .helpers import EVAL, FMNIST_SYSTEM_DIR, run_grid

OPT_IN = ("slow", "slurm")  # marks whose tests run only when `-m` names them
# The default suite runs on two pytest-xdist workers, a file to a worker, files in this order (then the rest as
# collected), so that neither worker is left with a long file at the end: the longest first (seconds on 2 cores,
# measured 2026-12-07), led by test_answer.py, whose one test runs the evaluation grid (2 to 4 min) at the
# start, while the other worker has a long file without it. A stale order costs time, never a result.
SLOWEST_FIRST = ("test_answer.py", "test_fewshot.py", "test_workflow.py", "test_diffusion.py", "test_generators.py",
                 "test_peers.py", "test_crash.py", "test_plugins.py", "test_images_family.py", "test_cli.py",
                 "test_gans.py", "test_classifiers.py", "test_memory.py", "test_stats.py", "test_train_marks.py",
                 "test_fd_reference_augmented.py", "test_resume.py", "test_gen_metrics.py", "test_bench.py",
                 "test_report.py")
# One torch thread, as every job runs (device.setup_device): a test's numbers must not depend on whether an
# earlier test in the session set the thread count (a float reduction over two threads can differ in its last
# bit, and a borderline threshold with it).
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Leave out slow and slurm tests unless -m names them: `pytest` is the default suite,
    `pytest -m "not e2e and not heavy"` its fast tier, and `pytest -m slow` or `-m slurm` the long and the
    cluster tests. Then put the files that take longest first (SLOWEST_FIRST), for pytest-xdist's workers."""
    expression = config.getoption("markexpr") or ""
    skip = [m for m in OPT_IN if m not in expression]
    kept, dropped = [], []
    for item in items:
        (dropped if any(item.get_closest_marker(m) for m in skip) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    helpers.RUNNING["e2e"] = item.get_closest_marker("e2e") is not None


@pytest.fixture(scope="session")
def evaluation_grid(tmp_path_factory):
    """The evaluation grid run to its report, once a session. Under pytest-xdist its workers share one run
    (about two minutes): the first to ask runs it, the others wait on a file lock and read it; every test
    that uses it only reads it (one copies it to rerun a cell). Without workers the lock is this process's own."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if "PYTEST_XDIST_WORKER" in os.environ else base  # the run's folder, above each worker's
    with FileLock(str(shared / "evaluation.lock")):
        workdir, done = shared / "evaluation", shared / "evaluation.done"
        if not done.is_file():
            shutil.rmtree(workdir, ignore_errors=True)  # a worker's failed run: this one tries again
            workdir.mkdir()
            run_grid(workdir, EVAL)
            done.touch()
    return workdir


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
