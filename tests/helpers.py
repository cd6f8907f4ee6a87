"""What several test files share: paths, the tiny grids, running Snakemake, and small file makers.

Fixtures live in conftest.py; everything a test imports lives here.
"""

from __future__ import annotations

import copy
import gzip
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from genaug.progress import SILENT

DISCARD = SILENT  # the package's log that keeps nothing and holds no file open


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


RUNNING = {"e2e": False}  # whether the test being set up or run is marked e2e


def snakemake(workdir, *args, config=None, **kwargs):
    """Run snakemake on the repository's Snakefile in `workdir` (with `config` as its config.yaml).

    Only an `e2e` test may: the fast tier (`pytest -m "not e2e"`) must not start Snakemake by accident."""
    if not RUNNING["e2e"]:
        raise RuntimeError("this test runs Snakemake: mark it @pytest.mark.e2e (the fast tier leaves those out)")
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    if "--workflow-profile" not in args:  # the auto-loaded profiles/default would add keep-going and the rest
        args = ("--workflow-profile", "none", *args)
    return subprocess.run(
        [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args],
        capture_output=True, text=True, **kwargs,
    )


def run_grid(workdir: Path, config: dict) -> Path:
    """`workdir`, where `config`'s whole grid has run to the report (the test fails if it did not)."""
    r = snakemake(workdir, "--cores", "2", config=config)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return workdir


def job_counts(output: str) -> dict:
    """{rule: count} from snakemake's 'Job stats' table."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


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


def write_idx(path, array: np.ndarray, gz=False):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(payload)


def fake_mnist_files(folder, gz=False, n_train=60, n_test=20):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for split, n in [("train", n_train), ("t10k", n_test)]:
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), gz)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz)


def make_folder(root, mode="L", size=(40, 30), per_class=6, classes=("cat", "dog", "owl")):
    rng = np.random.default_rng(1)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
            Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(root / c / f"{i}.png")
