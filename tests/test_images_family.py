"""Family `images`: synthetic images made elsewhere, read from a folder or an .npz, judged like a generator."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from genaug import generators as gens
from genaug.errors import GenaugError

from .helpers import TINY, snakemake


def write_folder(root, digits, per_class=12, names=True, size=None, colour=False):
    """digits training images as PNGs in <root>/<class>/ (class folders by name, or by index)."""
    for c in range(10):
        folder = root / (digits.classes[c] if names else str(c))
        folder.mkdir(parents=True, exist_ok=True)
        for i, idx in enumerate(np.flatnonzero(digits.train_y.numpy() == c)[:per_class]):
            im = Image.fromarray(digits.train_x[idx, 0].numpy())
            if size:
                im = im.resize((size, size))
            if colour:
                im = Image.merge("RGB", (im, im.point(lambda v: v // 2), im))
            im.save(folder / f"{i}.png")
    return root


def pool(digits, **hparams):
    spec = {"name": "pool", "family": "images", "hparams": hparams}
    return gens.build(spec, digits.image_shape, 10)


def test_a_folder_pool_is_read_and_drawn_without_replacement(digits, tmp_path, quiet):
    model = pool(digits, path=str(write_folder(tmp_path / "p", digits)))
    info = model.read(digits.classes, "balanced", "n100", 0, log=quiet)
    assert info["counts"] == [12] * 10
    gen = torch.Generator().manual_seed(0)
    first = model.sample(torch.full((7,), 3), gen)
    rest = model.sample(torch.full((5,), 3), gen)  # a second chunk of the same set: the other five
    drawn = torch.cat([first, rest]).flatten(1)
    real = torch.from_numpy(np.stack([digits.train_x[i, 0].numpy() for i in
                                      np.flatnonzero(digits.train_y.numpy() == 3)[:12]])).float().flatten(1) / 255
    assert torch.cdist(drawn, real).min(1).values.max() < 1e-6  # every image is one of the pool's
    assert len({tuple(r.tolist()) for r in drawn}) == 12  # none twice
    with pytest.raises(GenaugError, match="13 images of class 3 are asked for, the pool holds 12; add images"):
        model.sample(torch.full((1,), 3), gen)
    again = model.sample(torch.full((7,), 3), torch.Generator().manual_seed(0))
    assert torch.equal(again, first)  # the same seed, the same draw


def test_a_pool_survives_the_checkpoint(digits, tmp_path, quiet):
    model = pool(digits, path=str(write_folder(tmp_path / "p", digits, names=False)))
    model.read(digits.classes, "balanced", "n100", 0, log=quiet)
    gens.save(tmp_path / "m.pt", model, {"name": "pool", "family": "images", "hparams": {"path": "p"}},
              {"image_shape": list(digits.image_shape), "num_classes": 10}, [])
    loaded, _ = gens.load(tmp_path / "m.pt")
    assert torch.equal(loaded.pool, model.pool) and torch.equal(loaded.pool_labels, model.pool_labels)


def test_an_npz_pool_with_class_names_and_channels_last(digits, tmp_path, quiet):
    x = digits.train_x[:300, 0].numpy()[..., None]  # (N, H, W, 1)
    labels = np.array([digits.classes[c] for c in digits.train_y[:300].tolist()])
    np.savez(tmp_path / "pool.npz", images=x, labels=labels)
    model = pool(digits, path=str(tmp_path / "pool.npz"))
    info = model.read(digits.classes, "balanced", "n100", 0, log=quiet)
    assert sum(info["counts"]) == 300 and torch.equal(model.pool, digits.train_x[:300])


@pytest.mark.parametrize("case,message", [
    ("size", "0.png: 14x14 pixels, the dataset's images are 28x28; make them that size, or set the model's "
             "resize: true"),
    ("colour", "a colour image, the dataset is greyscale; convert it, or set the model's resize: true"),
    ("class", "folder 'Jacket': 'Jacket' is not a class of this dataset"),
    ("unreadable", "cannot be read as an image"),
    ("missing_cell", "no synthetic images there (layout per_cell: <path>/balanced/n100/s0[.npz])"),
    ("npz_keys", "needs arrays 'images' and 'labels' (it has x_train)"),
    ("npz_range", "float images must lie in [0, 1] (found -1..1)"),
])
def test_bad_pools_are_refused_naming_the_file_and_the_fix(digits, tmp_path, quiet, case, message):
    hparams = {"path": str(tmp_path / "p")}
    if case == "size":
        write_folder(tmp_path / "p", digits, per_class=8, size=14)
    elif case == "colour":
        write_folder(tmp_path / "p", digits, per_class=2, colour=True)
    elif case == "class":
        write_folder(tmp_path / "p", digits, per_class=1)
        (tmp_path / "p" / "Jacket").mkdir()
    elif case == "unreadable":
        write_folder(tmp_path / "p", digits, per_class=1)
        (tmp_path / "p" / "0" / "bad.png").write_bytes(b"not a png")
    elif case == "missing_cell":
        hparams["layout"] = "per_cell"
    elif case == "npz_keys":
        np.savez(tmp_path / "p.npz", x_train=np.zeros((2, 28, 28)))
        hparams["path"] = str(tmp_path / "p.npz")
    elif case == "npz_range":
        np.savez(tmp_path / "p.npz", images=np.linspace(-1, 1, 2 * 28 * 28).reshape(2, 28, 28), labels=[0, 1])
        hparams["path"] = str(tmp_path / "p.npz")
    with pytest.raises(GenaugError, match=None) as err:
        pool(digits, **hparams).read(digits.classes, "balanced", "n100", 0, log=quiet)
    assert message in str(err.value)


def test_resize_true_adapts_size_and_channels_and_says_so(digits, tmp_path, quiet):
    write_folder(tmp_path / "p", digits, per_class=3, size=14, colour=True)
    model = pool(digits, path=str(tmp_path / "p"), resize=True)
    info = model.read(digits.classes, "balanced", "n100", 0, log=quiet)
    assert model.pool.shape == (30, *digits.image_shape)
    assert "30 images: resized from 14x14 to 28x28" in info["notes"]
    assert "30 images: colour converted to grey" in info["notes"]


@pytest.mark.e2e
def test_shared_and_per_cell_pools_run_end_to_end_through_snakemake(digits, tmp_path):
    """Two `images` models in one grid, one shared folder pool and one .npz per cell, next to the baseline."""
    write_folder(tmp_path / "shared_pool", digits, per_class=30)
    cell = tmp_path / "cells" / "balanced" / "n100"
    cell.mkdir(parents=True)
    pick = np.random.default_rng(0).permutation(len(digits.train_y))[:400]
    np.savez(cell / "s0.npz", images=digits.train_x[pick].numpy(), labels=digits.train_y[pick].numpy())
    config = {**TINY, "seeds": [0],
              "grid": {**TINY["grid"], "regimes": ["balanced"], "models": ["baseline", "shared", "cells"]},
              "models": {"shared": {"family": "images", "path": str(tmp_path / "shared_pool")},
                         "cells": {"family": "images", "path": str(tmp_path / "cells"), "layout": "per_cell"}}}
    work = tmp_path / "work"
    work.mkdir()
    r = snakemake(work, "--cores", "2", config=config)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = pd.read_csv(work / "results" / "digits" / "summary.csv")
    for name in ("shared", "cells"):
        rows = summary[summary["model"] == name]
        assert len(rows) == 1 and set(rows["status"]) == {"ok"} and (rows["n_synthetic"] == 100).all(), rows
    page = (work / "results" / "report.html").read_text()
    answer = page.split("<h2 id=answer>")[1].split("<h2 ")[0]
    gains = page.split("<h2 id=gains>")[1].split("<h2 ")[0]  # every arm's paired gain, built-ins' alike
    assert ("shared" in answer or "cells" in answer) and "<td class=l>shared</td>" in gains
    assert "<td class=l>cells</td>" in gains
    # a changed pool is read again: one more image in a class folder reruns that model's jobs only
    Image.fromarray(digits.train_x[0, 0].numpy()).save(tmp_path / "shared_pool" / digits.classes[0] / "new.png")
    r = snakemake(work, "-n", config=config)
    assert "train_gen" in r.stdout and "generators/cells" not in r.stdout


def test_a_pool_folder_named_like_a_number_is_the_class_of_that_name(tmp_path):
    """Folder '3' is the dataset's class named 3 where there is one (here index 0), else index 3."""
    from genaug.generators.images import _read_folder

    for name in ("3", "c"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / name / "0.png")
    _, labels, _ = _read_folder(tmp_path, ["3", "a", "b", "c"], (1, 8, 8), False)
    assert labels.tolist() == [0, 3]
    _, labels, _ = _read_folder(tmp_path, ["a", "b", "x", "y", "z", "c"], (1, 8, 8), False)
    assert labels.tolist() == [3, 5]
