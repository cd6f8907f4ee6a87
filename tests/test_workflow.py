"""The Snakemake workflow: config validation, dry runs of the shipped grids, and a tiny grid end to end."""

import copy
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from .helpers import BIN, REPO, change_config, TINY, job_counts, snakemake

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())

# ------------------------------------------------------------------ schema


def with_change(path: str, value) -> dict:
    return change_config(DEFAULT, path, value)


def test_the_default_config_is_valid():
    validate(copy.deepcopy(DEFAULT), SCHEMA)


def test_a_classifier_entry_chooses_its_precision():
    from genaug.config import classifier_spec

    config = with_change("classifiers", {"fast": {"arch": "cnn", "precision": "bf16"}})
    validate(config, SCHEMA)
    assert classifier_spec(config, "fast")["train"]["precision"] == "bf16"
    assert "precision" not in classifier_spec(config, "cnn")["train"]  # the preset keeps TrainConfig's fp32
    with pytest.raises(WorkflowError):
        validate(with_change("classifiers", {"fast": {"arch": "cnn", "precision": "fp16"}}), SCHEMA)


def test_numbers_in_command_line_lists_and_mappings_get_their_types_and_only_where_the_schema_wants_them():
    """Snakemake reads `--config seeds='[0,1,2]'` as strings (YAML's BaseLoader); the Snakefile gives them back their
    types before validating. A class name that looks like a number stays a name; a non-number stays an error."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    from genaug.config import check, coerce_command_line, coerce_model_entries

    config = copy.deepcopy(DEFAULT)
    update_config(config, parse_config(["seeds=[0,1,2]", "grid={sizes: [250], regimes: [semi_balanced]}",
                                        "regimes={imbalanced: {ratio: 10}, semi_balanced: {minority_classes: [3]}}"]))
    assert config["seeds"] == ["0", "1", "2"] and config["grid"]["sizes"] == ["250"]  # what snakemake hands over
    changed = coerce_command_line(config, SCHEMA)
    assert sorted(changed) == ["grid.sizes.0", "regimes.imbalanced.ratio", "seeds.0", "seeds.1", "seeds.2"]
    assert config["seeds"] == [0, 1, 2] and config["grid"]["sizes"] == [250]
    assert config["regimes"]["imbalanced"]["ratio"] == 10
    assert config["regimes"]["semi_balanced"]["minority_classes"] == ["3"]  # a name or an index: class_index decides
    validate(config, SCHEMA)
    update_config(config, parse_config(["models={small: {family: vae, per_class: true, latent_dim: 8, "
                                        "hidden: [64, 32], beta: 0.5}}"]))
    assert coerce_command_line(config, SCHEMA) == ["models.small.per_class"]  # the main schema knows per_class
    assert sorted(coerce_model_entries(config)) == [  # the family's hyperparameters
        "models.small.beta", "models.small.hidden.0", "models.small.hidden.1", "models.small.latent_dim"]
    assert config["models"]["small"] == {"family": "vae", "per_class": True, "latent_dim": 8, "hidden": [64, 32],
                                         "beta": 0.5}
    check(config)
    update_config(config, yaml.safe_load("classifiers: {cnn: {arch: cnn, lr: 1e-3}}"))  # PyYAML: text, not a float
    assert config["classifiers"]["cnn"]["lr"] == "1e-3"
    assert coerce_command_line(config, SCHEMA) == ["classifiers.cnn.lr"]
    assert config["classifiers"]["cnn"]["lr"] == 0.001
    update_config(config, parse_config(["tensorboard=yes"]))
    assert coerce_command_line(config, SCHEMA) == [] and config["tensorboard"] == "yes"  # YAML 1.1's yes: refused
    config["tensorboard"] = False
    update_config(config, parse_config(["seeds=[0,x]"]))
    assert coerce_command_line(config, SCHEMA) == ["seeds.0"] and config["seeds"] == [0, "x"]
    with pytest.raises(WorkflowError):
        validate(config, SCHEMA)


def test_a_config_error_names_the_file_that_set_the_field():
    """config.yaml, a user's --configfile and --config merge; the error must send the user to the right one."""
    from genaug.config import config_source

    layers = [("--config", {"seeds": ["0", "0"], "grid": {"sizes": ["-3"]}}),
              ("mine.yaml", {"synthesis": {"policy": "balance"}, "grid": {"regimes": ["balanced"]}, "models": None}),
              ("config.yaml", DEFAULT)]
    assert config_source("seeds: a seed is listed twice", layers) == "--config"
    assert config_source("grid.sizes.0: -3 is less than the minimum of 1", layers) == "--config"
    assert config_source("grid.regimes is empty", layers) == "mine.yaml"  # --config sets grid, not its regimes
    assert config_source("synthesis.policy: balance tops each class", layers) == "mine.yaml"
    assert config_source("models.vae.family: unknown", layers) == "mine.yaml"  # models: null there, a value above
    assert config_source("effort: 'huge' is not one of", layers) == "config.yaml"
    assert config_source("top level: 'seeds' is a required property", layers) == "config.yaml + mine.yaml + --config"
    assert config_source("seeds: listed twice", [("config.yaml", DEFAULT)]) == "config.yaml"


def test_home_and_environment_variables_in_config_paths_are_expanded(monkeypatch, tmp_path):
    """`data_dir: ~/datasets/cats` was looked up as a folder named `~`; clusters name scratch space $SCRATCH."""
    from genaug.config import expand_paths

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SCRATCH", "/scratch/me")
    config = {"data_dir": "~/datasets/cats", "python_path": ["$SCRATCH/gens", "plugins"],
              "gen_metrics": {"inception_weights": "~/w.pth"},
              "models": {"pool": {"family": "images", "path": "$SCRATCH/pool"}, "v": {"family": "vae"}}}
    expand_paths(config)
    assert config["data_dir"] == f"{tmp_path}/datasets/cats"
    assert config["python_path"] == ["/scratch/me/gens", "plugins"]
    assert config["gen_metrics"]["inception_weights"] == f"{tmp_path}/w.pth"
    assert config["models"]["pool"]["path"] == "/scratch/me/pool" and config["models"]["v"] == {"family": "vae"}
    empty = {"data_dir": None}
    expand_paths(empty)
    assert empty == {"data_dir": None}


def test_an_image_size_a_generator_s_networks_cannot_take_stops_the_run_before_any_job():
    from genaug.config import ConfigError, check

    config = {**with_change("grid", {**DEFAULT["grid"], "regimes": ["balanced"], "models": ["baseline", "gan",
              "cdcgan_ms"], "sizes": [200]}), "dataset": "digits", "image_size": 30}
    with pytest.raises(ConfigError, match=r"image_size: 30 does not suit 'cdcgan_ms', whose cgan networks need a side "
                                          r"divisible by 4; set image_size to 28 or 32"):
        check(config)
    check({**config, "image_size": 32})
    check({**config, "dataset": "fashion_mnist"})  # always 28: image_size does not apply
    check({**config, "grid": {**config["grid"], "models": ["baseline", "gan", "cddpm"]}})  # 003's MLP GAN, a UNet
    shots = {**config, "grid": {**config["grid"], "regimes": ["shots"], "models": ["baseline", "gan"]}}
    with pytest.raises(ConfigError, match=r"does not suit 'autoencoder', whose conv_vae networks .* or set "
                                          r"autoencoder.family: vae"):  # M2/M4's latent space
        check(shots)
    check({**shots, "autoencoder": {"family": "vae"}})
    check({**shots, "gencls": {"enabled": False}})


def test_validation_per_class_is_checked_against_a_folder_dataset_s_smallest_class(tmp_path):
    """Every subset job holds out validation_per_class images of each class: on a folder dataset with a small class
    that must stop the run before any job, naming the class, with or without train/ and test/ folders."""
    from genaug.config import ConfigError, check
    from genaug.data import load_source

    from .helpers import make_folder

    make_folder(tmp_path / "split" / "train", per_class=12, classes=("big", "cat"))
    make_folder(tmp_path / "split" / "train", per_class=5, classes=("tiny", "wee"))
    make_folder(tmp_path / "split" / "test", per_class=2, classes=("big", "cat", "tiny", "wee"))
    config = {**with_change("grid.regimes", ["balanced"]), "dataset": "folder",
              "gen_metrics": {"enabled": False}, "data_dir": str(tmp_path / "split")}
    config["grid"]["sizes"] = [4]  # one image a class: what the smallest holds
    with pytest.raises(ConfigError, match=r"validation_per_class: 100 images of every class are held out for early "
                                          r"stopping, but class 'tiny' has 5 training images, the fewest of the 4 "
                                          r"classes with too few; set validation_per_class below 5, e.g. 1, or add "
                                          r"images"):
        check(config)
    check({**config, "validation_per_class": 4})
    with pytest.raises(ConfigError, match=r"folder.name: 'mnist' is the results folder of the built-in dataset mnist"):
        check({**config, "validation_per_class": 4, "folder": {"name": "mnist"}})
    make_folder(tmp_path / "flat", per_class=10, classes=("a", "b"))  # a fifth of 10 goes to the test split
    flat = {**config, "data_dir": str(tmp_path / "flat"), "folder": {"test_fraction": 0.2},
            "grid": {**config["grid"], "sizes": [2]}}
    for held_out, refused in ((8, True), (7, False)):
        if refused:
            with pytest.raises(ConfigError, match="class 'a' has 8 training images"):
                check({**flat, "validation_per_class": held_out})
        else:
            check({**flat, "validation_per_class": held_out})
    assert load_source("folder", data_dir=tmp_path / "flat", image_size=28, test_fraction=0.2).train_y.eq(0).sum() == 8
    make_folder(tmp_path / "flat", per_class=1, classes=("c",))  # validation_per_class is at least 1: no setting fits
    with pytest.raises(ConfigError, match=r"class 'c' has 1 training image; a class needs at least 2 \(one held out, "
                                          r"one to train on\): add images to it, or remove its folder"):
        check({**flat, "validation_per_class": 1})
    for unset in (None, ""):  # `--config data_dir=` is "": Path("") would read the working directory's folders
        with pytest.raises(ConfigError, match=r"data_dir: dataset 'folder' needs data_dir, the root of "
                                              r"data_dir/<class>/\*.png"):
            check({**config, "data_dir": unset})
    (tmp_path / "mount").mkdir()  # an empty mount point: no classes, so nothing is named against it here
    check({**config, "data_dir": str(tmp_path / "mount"), "grid": {**config["grid"], "regimes": ["semi_balanced"]}})


def test_train_and_test_folders_with_different_classes_are_refused_before_any_job_naming_each_gap(tmp_path):
    """`snakemake -n` passed a root whose test/ lacked a class of train/, and the prepare job then failed with
    "different class folders", naming neither; a test class folder with no image failed it too."""
    from genaug.config import check
    from genaug.data import load_source
    from genaug.errors import GenaugError

    from .helpers import make_folder

    make_folder(tmp_path / "imgs" / "train", per_class=12, classes=("cat", "dog", "owl"))
    make_folder(tmp_path / "imgs" / "test", classes=("cat", "dog", "emu"))
    config = {**with_change("grid.regimes", ["balanced"]), "dataset": "folder", "data_dir": str(tmp_path / "imgs"),
              "validation_per_class": 2}
    config["grid"]["sizes"] = [6]
    message = (r"train/ and test/ must hold the same class folders, but train/ has 'owl', which test/ lacks; test/ "
               r"has 'emu', which train/ lacks; add the missing class folders")
    with pytest.raises(GenaugError, match=message):
        check(config)
    with pytest.raises(GenaugError, match=message):
        load_source("folder", data_dir=tmp_path / "imgs", image_size=28)
    make_folder(tmp_path / "imgs" / "test", classes=("owl",))
    with pytest.raises(GenaugError, match=r"test/ has 'emu', which train/ lacks; add"):
        check(config)
    (tmp_path / "imgs" / "train" / "emu").mkdir()
    make_folder(tmp_path / "imgs" / "train", per_class=12, classes=("emu",))
    check(config)
    for f in (tmp_path / "imgs" / "test" / "owl").iterdir():  # a test class with no image could never be scored
        f.unlink()
    with pytest.raises(GenaugError, match=r"data_dir: \S+/test/owl holds no images, so its class could never be "
                                          r"scored; add test images to it, or remove class 'owl' from both"):
        check(config)


def test_a_folder_dataset_s_minority_classes_are_checked_against_its_class_folders(tmp_path):
    """config.yaml names Fashion-MNIST's classes; on a folder dataset that must stop the run before any job, not
    fail every semi-balanced subset job after the dataset was read."""
    from genaug.config import ConfigError, check

    from .helpers import make_folder

    make_folder(tmp_path / "imgs" / "train", per_class=12, classes=("cat", "dog", "owl"))
    make_folder(tmp_path / "imgs" / "test", classes=("cat", "dog", "owl"))
    config = {**with_change("grid.regimes", ["semi_balanced"]), "dataset": "folder",
              "gen_metrics": {"enabled": False}, "data_dir": str(tmp_path / "imgs"),
              "validation_per_class": 2}
    config["grid"]["sizes"] = [8]
    with pytest.raises(ConfigError, match=r"minority_classes: 'Pullover' is not a class of folder \(classes: cat, dog, "
                                          r"owl\)"):
        check(config)
    config["regimes"]["semi_balanced"]["minority_classes"] = ["OWL", 0]
    check(config)
    config["data_dir"] = str(tmp_path / "not-yet")  # no folder (yet): prepare names the problem
    check(config)
    make_folder(tmp_path / "nums", per_class=12, classes=("3", "apple", "bee", "zebra"))
    config["data_dir"] = str(tmp_path / "nums")
    config["regimes"]["semi_balanced"]["minority_classes"] = [3]  # YAML's 3: index 3, or the class named 3?
    with pytest.raises(ConfigError, match=r"3 is index 3 \('zebra'\) and also the name of class 0; give the name, "
                                          r"'zebra' or '3'"):
        check(config)
    config["regimes"]["semi_balanced"]["minority_classes"] = ["3", 2]
    check(config)


def test_overlap_classes_you_set_are_checked_against_the_dataset_s_classes_before_any_job():
    """The probe job skips a name the dataset lacks (the default names Fashion-MNIST's group), so a mistyped name
    quietly shrank the group; a list you set must name two or more of the dataset's classes."""
    from genaug.config import ConfigError, check

    config = with_change("probes.overlap_classes", ["Shrit", "Coat"])
    with pytest.raises(ConfigError, match=r"probes.overlap_classes: 'Shrit' is not a class of fashion_mnist"):
        check(config)
    with pytest.raises(ConfigError, match=r"probes.overlap_classes: \['Shirt', 'shirt'\] names one class, and a "
                                          r"group's confusion is between two or more"):
        check(with_change("probes.overlap_classes", ["Shirt", "shirt"]))
    check(with_change("probes.overlap_classes", ["Shirt", 4]))
    check(with_change("probes.overlap_classes", []))  # no group
    check(with_change("probes", {"enabled": False, "overlap_classes": ["Shrit"]}))  # no probes
    digits = {**with_change("grid", {**DEFAULT["grid"], "regimes": ["balanced"], "sizes": [100]}),
              "dataset": "digits", "validation_per_class": 10}
    check(digits)  # the default group is Fashion-MNIST's: skipped where a dataset lacks it
    with pytest.raises(ConfigError, match=r"probes.overlap_classes: 'Coat' is not a class of digits"):
        check({**digits, "probes": {"overlap_classes": ["3", "Coat"]}})


def test_sizes_are_checked_against_the_classes_before_any_job(tmp_path):
    """A count regime too small for the number of classes leaves some with no image, and a size too large for a
    folder's images overdraws a class: either failed every subset job of it after `snakemake -n` said the grid was
    fine. The bounds given in the error are the subset job's own, found here by drawing on either side of them."""
    from genaug.config import ConfigError, check
    from genaug.data import load_source
    from genaug.errors import GenaugError
    from genaug.sources import folder_train_counts
    from genaug.subsets import RegimeParams, draw_subset

    from .helpers import make_folder

    names = [f"species {i:03d}" for i in range(60)]
    for name in names:
        (tmp_path / "many" / name).mkdir(parents=True)
    labels = np.repeat(np.arange(60), 12)
    for c in range(60):  # check reads only names and counts: empty files stand in for 12 images of each class
        for i in range(12):
            (tmp_path / "many" / names[c] / f"{i}.png").touch()
    config = {**with_change("grid.regimes", ["semi_balanced"]), "dataset": "folder",
              "gen_metrics": {"enabled": False}, "data_dir": str(tmp_path / "many"),
              "folder": {"test_fraction": 0.25}, "validation_per_class": 2, "seeds": [0, 1],
              "regimes": {"semi_balanced": {"minority_classes": names[:2], "ratio": 6}}}
    config["grid"]["sizes"] = [150]
    with pytest.raises(ConfigError, match=r"grid.sizes: n150 leaves some of the 60 classes with no image in regime "
                                          r"'semi_balanced'; the smallest that gives every class one for seeds "
                                          r"\[0, 1\] is n(\d+), or lower regimes.semi_balanced.ratio") as err:
        check(config)
    need = int(re.search(r"is n(\d+)", str(err.value)).group(1))
    params = RegimeParams(names[:2], 6)
    draw = lambda n, seed: draw_subset(labels, names, "semi_balanced", f"n{n}", seed, validation_per_class=2,
                                       params=params)  # noqa: E731
    assert all(draw(need, seed).counts.min() == 1 for seed in (0, 1))
    with pytest.raises(GenaugError, match="with no image"):
        [draw(need - 1, seed) for seed in (0, 1)]
    check({**config, "grid": {**config["grid"], "sizes": [need]}})
    check({**config, "grid": {**config["grid"], "sizes": [150], "regimes": ["balanced"]}, "seeds": [0, 1]})
    config["grid"]["sizes"] = [need, 600]  # 9 training images a class, 2 held out: 7 to draw from
    with pytest.raises(ConfigError, match=r"grid.sizes: n600 in regime 'semi_balanced' asks for more images of a "
                                          r"class than data_dir holds \(after validation_per_class: 2 held out\); the "
                                          r"largest size that fits for seeds \[0, 1\] is n(\d+)") as err:
        check(config)
    most = int(re.search(r"fits .* is n(\d+)", str(err.value)).group(1))
    labels = np.repeat(np.arange(60), 9)  # what the subset job sees: the folder's train split
    assert all(draw(most, seed).counts.max() == 7 for seed in (0, 1))
    with pytest.raises(GenaugError, match="has only 7"):
        [draw(most + 1, seed) for seed in (0, 1)]
    shots = {**config, "grid": {**config["grid"], "regimes": ["shots"], "shots": [1, 8]}}
    with pytest.raises(ConfigError, match=r"grid.shots: k8 asks for 8 images of every class, but class 'species 000' "
                                          r"has at most 7 after validation_per_class \(2\) held out; use k7 or fewer"):
        check(shots)
    check({**shots, "grid": {**shots["grid"], "shots": [7]}})
    for name, n in (("ant", 60), ("bee", 30), ("cod", 8), ("doe", 4)):  # a long tail: f1 leaves its end empty
        make_folder(tmp_path / "tail", per_class=n, classes=(name,))
    tail = {**config, "data_dir": str(tmp_path / "tail"), "validation_per_class": 1, "seeds": [0, 1, 2],
            "grid": {**config["grid"], "regimes": ["fraction"], "fractions": [1, 50]}}
    with pytest.raises(ConfigError, match=r"grid.fractions: f1 leaves some of the 4 classes of data_dir with no image "
                                          r"\(the smallest holds at most 2 after validation_per_class\); the smallest "
                                          r"that gives every class one is f(\d+)") as err:
        check(tail)
    need = int(re.search(r"is f(\d+)", str(err.value)).group(1))
    labels = load_source("folder", data_dir=tmp_path / "tail", image_size=28, test_fraction=0.25).train_y.numpy()
    exact = folder_train_counts(tmp_path / "tail", 0.25, exact=True)
    assert list(exact.values()) == np.bincount(labels).tolist() == [45, 22, 6, 3]  # the split's own counts ...
    assert list(folder_train_counts(tmp_path / "tail", 0.25).values()) == [45, 23, 6, 3]  # ... and at most
    frac = lambda f, seed: draw_subset(labels, ["ant", "bee", "cod", "doe"], "fraction", f"f{f}", seed,
                                       validation_per_class=1)  # noqa: E731
    assert all(frac(need, seed).counts.min() >= 1 for seed in (0, 1, 2))
    with pytest.raises(GenaugError, match="with no image"):
        [frac(need - 1, seed) for seed in (0, 1, 2)]
    check({**tail, "grid": {**tail["grid"], "fractions": [need, 100]}})
    make_folder(tmp_path / "few", classes=("cat", "dog", "owl"))  # fashion_mnist's sizes on 6 images a class
    with pytest.raises(ConfigError, match=r"grid.sizes: n1000 in regime 'balanced'"):
        check({**with_change("grid.regimes", ["balanced"]), "dataset": "folder", "data_dir": str(tmp_path / "few"),
               "validation_per_class": 1})


def test_a_built_in_dataset_s_sizes_shots_and_validation_are_checked_against_its_classes_before_any_job(
        tmp_path, digits):
    """digits holds 122-128 training images a class, so config.yaml's n1000 failed every subset job of it after
    `snakemake -n` said the grid was fine; an IDX dataset's counts come from its labels file. The bound given in
    the error is the subset job's own, found by drawing on either side of it."""
    from genaug.config import DIGITS_COUNTS, ConfigError, check
    from genaug.errors import GenaugError
    from genaug.subsets import draw_subset

    from .helpers import fake_mnist_files

    labels = digits.train_y.numpy()
    assert np.bincount(labels).tolist() == DIGITS_COUNTS["train"]  # the constants are data.py's split
    assert np.bincount(digits.test_y.numpy()).tolist() == DIGITS_COUNTS["test"]
    config = {**with_change("grid.regimes", ["balanced"]), "dataset": "digits", "seeds": [0, 1]}
    with pytest.raises(ConfigError, match=r"grid.sizes: n1000 in regime 'balanced' asks for more images of a class "
                                          r"than digits holds \(after validation_per_class: 100 held out\); the "
                                          r"largest size that fits for seeds \[0, 1\] is n(\d+)") as err:
        check(config)
    most = int(re.search(r"is n(\d+)", str(err.value)).group(1))
    draw = lambda n, seed: draw_subset(labels, digits.classes, "balanced", f"n{n}", seed,  # noqa: E731
                                       validation_per_class=100)
    assert all(draw(most, seed).counts.sum() == most for seed in (0, 1))
    with pytest.raises(GenaugError, match="has only 22"):
        [draw(most + 1, seed) for seed in (0, 1)]
    fits = {**config, "grid": {**config["grid"], "sizes": [most]}}
    check(fits)
    with pytest.raises(ConfigError, match=r"test.per_class: 53, but class '8' has only 52 test images; lower "
                                          r"test.per_class to 52 or less, or set it to null"):
        check({**fits, "test": {"per_class": 53}})
    with pytest.raises(ConfigError, match=r"gen_metrics.per_class: 27 needs 54 test images of every class \(a "
                                          r"reference and a real-vs-real floor draw\), but class '8' has 52; use "
                                          r"2..26, or auto"):
        check({**fits, "gen_metrics": {"per_class": 27}})
    check({**fits, "test": {"per_class": 52}, "gen_metrics": {"per_class": 26}})
    check({**fits, "gen_metrics": {"per_class": 27}, "grid": {**fits["grid"], "models": ["baseline", "classic"]}})
    with pytest.raises(ConfigError, match=r"validation_per_class: 170 images of every class are held out for early "
                                          r"stopping, but class '8' has 122 training images, the fewest of the 10 "
                                          r"classes with too few; set validation_per_class below 122, e.g. 24$"):
        check({**config, "validation_per_class": 170})
    shots = {**config, "validation_per_class": 10, "grid": {**config["grid"], "regimes": ["shots"], "shots": [200]}}
    with pytest.raises(ConfigError, match=r"grid.shots: k200 asks for 200 images of every class, but class '8' has at "
                                          r"most 112 after validation_per_class \(10\) held out; use k112 or fewer"):
        check(shots)
    fake_mnist_files(tmp_path / "idx", gz=True, n_test=40)  # 6 training and 4 test images a class
    mnist = {**config, "dataset": "mnist", "data_dir": str(tmp_path / "idx"), "validation_per_class": 2}
    with pytest.raises(ConfigError, match=r"n1000 in regime 'balanced' asks for more images of a class than mnist "
                                          r"holds \(after validation_per_class: 2 held out\); the largest size that "
                                          r"fits for seeds \[0, 1\] is n40$"):
        check(mnist)
    check({**mnist, "grid": {**mnist["grid"], "sizes": [40]}})
    check({**mnist, "data_dir": str(tmp_path / "none"), "seeds": [0]})  # no files yet: prepare will download them


def test_a_folder_s_test_split_is_checked_against_test_per_class_and_the_metric_draws_before_any_job(tmp_path):
    """Too few test images failed every classifier job after its training (test.per_class) or the reference job
    (the generative metrics' two draws a class). Without train/ and test/ the check takes floor(n * test_fraction)
    a class, and the split's own count where that bound is too small to decide."""
    from genaug.config import ConfigError, check
    from genaug.data import load_source
    from genaug.sources import folder_test_counts

    from .helpers import make_folder

    make_folder(tmp_path / "flat", per_class=9, classes=("a", "b"))  # 18 images: ceil(3.6) = 4 to the test split
    test_y = load_source("folder", data_dir=tmp_path / "flat", image_size=28, test_fraction=0.2).test_y.numpy()
    assert np.bincount(test_y).tolist() == [2, 2]
    assert folder_test_counts(tmp_path / "flat", 0.2) == {"a": 1, "b": 1}  # floor(1.8): a bound, no split
    assert folder_test_counts(tmp_path / "flat", 0.2, need=2) == {"a": 2, "b": 2}  # the split's own
    config = {**with_change("grid", {**DEFAULT["grid"], "regimes": ["balanced"], "sizes": [4]}), "dataset": "folder",
              "data_dir": str(tmp_path / "flat"), "validation_per_class": 2, "folder": {"test_fraction": 0.2}}
    with pytest.raises(ConfigError, match=r"gen_metrics: generative metrics need two disjoint real draws of at least 2 "
                                          r"images a class, but class 'a' has 2 test images; add test images, or set "
                                          r"gen_metrics.enabled false"):
        check(config)
    quiet = {**config, "gen_metrics": {"enabled": False}}
    check({**quiet, "test": {"per_class": 2}})
    with pytest.raises(ConfigError, match=r"test.per_class: 3, but class 'a' has only 2 test images; lower "
                                          r"test.per_class to 2 or less"):
        check({**quiet, "test": {"per_class": 3}})
    make_folder(tmp_path / "split" / "train", per_class=9, classes=("a", "b"))
    make_folder(tmp_path / "split" / "test", per_class=4, classes=("a", "b"))
    check({**config, "data_dir": str(tmp_path / "split")})
    make_folder(tmp_path / "three" / "train", per_class=9, classes=("a", "b"))
    make_folder(tmp_path / "three" / "test", per_class=3, classes=("a", "b"))
    with pytest.raises(ConfigError, match=r"gen_metrics: .* but class 'a' has 3 test images"):  # per_class 1 asks
        check({**config, "data_dir": str(tmp_path / "three"), "gen_metrics": {"per_class": 1}})  # 2: it passed


def test_an_idx_dataset_s_class_counts_come_from_its_labels_file_or_none(tmp_path):
    from genaug.sources import idx_class_counts

    from .helpers import FMNIST_SYSTEM_DIR, fake_mnist_files, write_idx

    if FMNIST_SYSTEM_DIR.is_dir():
        assert idx_class_counts("fashion_mnist", None, tmp_path / "cache") == [6000] * 10
        assert idx_class_counts("fashion_mnist", None, tmp_path / "cache", "t10k") == [1000] * 10
    fake_mnist_files(tmp_path / "plain", n_train=35)
    assert idx_class_counts("mnist", tmp_path / "plain", tmp_path / "cache") == [4] * 5 + [3] * 5
    assert idx_class_counts("mnist", tmp_path / "missing", tmp_path / "cache") is None
    labels = tmp_path / "plain" / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])  # truncated: the header's count no longer matches
    assert idx_class_counts("mnist", tmp_path / "plain", tmp_path / "cache") is None
    write_idx(labels, np.zeros((2, 2)), False)  # two dimensions: not a labels file
    assert idx_class_counts("mnist", tmp_path / "plain", tmp_path / "cache") is None
    labels.write_bytes(b"\x1f\x8b not gzip")
    (tmp_path / "gz").mkdir()
    for f in (tmp_path / "plain").iterdir():
        (tmp_path / "gz" / f"{f.name}.gz").write_bytes(f.read_bytes())
    assert idx_class_counts("mnist", tmp_path / "gz", tmp_path / "cache") is None  # a .gz that is not gzip


@pytest.mark.parametrize("path,value", [
    ("grid.modles", ["vae"]),                       # unknown key
    ("dataset", "cifar10"),                         # unknown dataset
    ("effort", "fast"),                             # unknown preset
    ("grid.regimes", ["balanced", "lopsided"]),     # unknown regime
    ("grid.sizes", [0, 1000]),                      # impossible size
    ("seeds", KeyError),                            # missing required field
    ("models.vae.family", "gan9000"),               # unknown family
    ("models.vae.latent_dims", 3),                  # misspelled hyperparameter
    ("models.vae.label_strategy", "reconstruct"),   # both per_class and a label strategy
    ("synthesis.policy", "double"),                 # unknown policy
    ("device", "tpu"),
])
def test_schema_and_family_check_reject_bad_values(path, value):
    """What the Snakefile runs before any job: the schema, then the cross-field and family checks."""
    from genaug.config import ConfigError, check

    with pytest.raises((WorkflowError, ConfigError)):
        config = with_change(path, value)
        validate(config, SCHEMA)
        check(config)


@pytest.mark.e2e
@pytest.mark.parametrize("change,message", [
    (("grid.modles", ["vae"]), "grid: Additional properties are not allowed ('modles' was unexpected)"),
    (("grid.models", ["baseline", "my_gan"]), "grid.models: unknown model 'my_gan'"),
    (("models.vae.latent_dims", 3), "models.vae"),
])
def test_bad_config_fails_before_any_job_and_names_the_field(tmp_path, change, message):
    r = snakemake(tmp_path, "-n", config=with_change(*change))
    assert r.returncode != 0
    assert message in r.stdout + r.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.e2e
def test_a_config_error_from_a_configfile_or_the_command_line_names_it(tmp_path):
    (tmp_path / "mine.yaml").write_text("synthesis: {policy: balance}\n")
    r = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "mine.yaml"), config=DEFAULT)
    assert r.returncode != 0 and "mine.yaml: synthesis.policy: balance tops each class" in r.stdout, r.stdout[-2000:]
    r = snakemake(tmp_path, "-n", "--config", "seeds=[1,1]", config=DEFAULT)
    assert r.returncode != 0 and "--config: seeds: a seed is listed twice" in r.stdout, r.stdout[-2000:]
    assert not (tmp_path / "results").exists()


@pytest.mark.e2e
def test_a_study_in_its_own_folder_reads_its_config_yaml_or_else_the_checkouts_under_its_configfile(tmp_path):
    """Run from a folder of one's own (-s <checkout>/Snakefile), `configfile: config.yaml` found none: with a
    --configfile only that file and the schema's defaults applied, so the grid differed from the same file's in
    the checkout; with neither, snakemake stopped."""
    checkout = yaml.safe_load((REPO / "config.yaml").read_text())
    bare = snakemake(tmp_path, "-n")
    assert bare.returncode == 0, bare.stdout[-2000:] + bare.stderr[-2000:]
    assert f"Config file(s): ['{REPO / 'config.yaml'}']" in bare.stdout
    grid = checkout["grid"]
    cells = len(grid["regimes"]) * len(grid["sizes"]) * len(grid["models"]) * len(checkout["seeds"])
    assert job_counts(bare.stdout)["train_clf"] == cells
    (tmp_path / "study.yaml").write_text("seeds: [4]\n")
    layered = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "study.yaml"))
    assert layered.returncode == 0 and str(REPO / "config.yaml") in layered.stdout, layered.stdout[-2000:]
    assert "results/fashion_mnist/logs/subset/balanced/n1000/s4.log" in layered.stdout  # the checkout's grid, its seed
    own = snakemake(tmp_path, "-n", config={**DEFAULT, "seeds": [6]})  # a config.yaml of its own wins
    assert own.returncode == 0 and "Config file(s): ['config.yaml']" in own.stdout and "/s6.log" in own.stdout


# ------------------------------------------------------------------ dry runs of the shipped grids


@pytest.mark.e2e
def test_the_readme_s_command_line_narrowing_plans_the_narrowed_grid(tmp_path):
    """`--config grid='{...}'` and `seeds='[...]'` as the README and docs/methods.md write them: numbers inside a list
    used to reach the schema as strings and stop the run."""
    r = snakemake(tmp_path, "-n", "--config", "grid={sizes: [250], regimes: [balanced]}", "seeds=[0,1,2]",
                  config=DEFAULT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert job_counts(r.stdout)["train_clf"] == 3 * len(DEFAULT["grid"]["models"])
    r = snakemake(tmp_path, "-n", "-p", "--config", "models={small: {family: vae, per_class: true, latent_dim: 8}}",
                  "grid={sizes: [250], regimes: [semi_balanced], models: [baseline, small]}",
                  "regimes={semi_balanced: {minority_classes: [2, 6]}}", config=DEFAULT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '"latent_dim": 8' in r.stdout and '"per_class": true' in r.stdout  # typed in the job's spec


@pytest.mark.e2e
def test_dry_run_of_the_default_grid(tmp_path):
    r = snakemake(tmp_path, "-n", config=DEFAULT)
    assert r.returncode == 0, r.stderr
    counts = job_counts(r.stdout)
    cells = len(DEFAULT["seeds"]) * len(DEFAULT["grid"]["regimes"]) * len(DEFAULT["grid"]["sizes"])
    assert counts["train_clf"] == cells * len(DEFAULT["grid"]["models"])
    assert counts["train_gen"] == counts["sample"] == cells * 1  # one generator in the default grid
    assert counts["subset"] == cells and counts["report"] == counts["gains"] == 1


@pytest.mark.e2e
@pytest.mark.parametrize("profile", ["default", "slurm"])
def test_the_shipped_profiles_plan_the_default_grid(tmp_path, profile):
    r = snakemake(tmp_path, "-n", "--workflow-profile", str(REPO / "profiles" / profile),
                  *(["--slurm-no-account"] if profile == "slurm" else []), config=DEFAULT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert job_counts(r.stdout)["train_clf"] == 36
    if profile == "slurm":  # per-rule resources from the profile reach the jobs
        assert "slurm_partition=main" in r.stdout and "runtime=120" in r.stdout and "mem_mb=6000" in r.stdout


@pytest.mark.e2e
def test_a_plain_snakemake_loads_the_default_profile(tmp_path):
    """profiles/default beside the Snakefile is Snakemake's own default: no flag, and no --cores needed."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(DEFAULT))
    r = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    said = r.stdout + r.stderr
    assert "workflow specific profile" in said and "profiles/default" in said, said[-2000:]


@pytest.mark.e2e
def test_dry_run_of_the_paper_grid(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    r = snakemake(tmp_path, "-n", "--configfile", str(REPO / "workflow" / "configs" / "paper.yaml"))
    assert r.returncode == 0, r.stderr
    counts = job_counts(r.stdout)
    assert counts["subset"] == 5 * 3 * 5  # seeds x regimes x sizes
    assert counts["train_clf"] == 75 * 4 and counts["train_gen"] == 75 * 2


# ------------------------------------------------------------------ the evaluation grid, end to end


# The end-to-end grid is conftest's evaluation grid (one run shared with tests/test_report.py).


@pytest.mark.e2e
def test_grid_writes_a_self_contained_report(evaluation_grid):
    page = (evaluation_grid / "results" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4  # accuracy plot, gain plot, sample grids
    assert "<script" not in page and "http://" not in page.replace('http://www.w3.org', '')
    for model in ["baseline", "classic", "vae", "combined"]:
        assert f"<td class=l>{model}</td>" in page, model


@pytest.mark.e2e
def test_grid_summary_has_one_row_per_cell_with_sane_values(evaluation_grid):
    df = pd.read_csv(evaluation_grid / "results" / "digits" / "summary.csv")
    assert not df.duplicated(["model", "train_set", "regime", "size", "seed"]).any()
    assert df["accuracy"].between(0, 1).all() and df["macro_f1"].between(0, 1).all()
    assert (df.loc[df["train_set"] != "synthetic", "n_real"] == 100).all()
    assert (df.loc[df["model"].isin(["baseline", "classic"]), "n_synthetic"] == 0).all()
    assert (df.loc[df["model"] == "vae", "n_synthetic"] == 100).all()  # policy match
    assert (df["dataset"] == "digits").all() and set(df["seed"]) == {0, 1}
    machine = df["machine"].iloc[0]  # what computed it: the CPU's (or GPU's) model name
    assert isinstance(machine, str) and machine and (df["machine"] == machine).all()
    page = (evaluation_grid / "results" / "report.html").read_text()
    assert f"machines: {machine} ({len(df)} runs)" in page and "more than one machine" not in page
    for row in df.itertuples():
        metrics = json.loads((evaluation_grid / "results" / "digits" / "classifiers" / "softmax" / row.train_set /
                              row.model / "none" / row.regime / row.size / f"s{row.seed}" / "metrics.json").read_text())
        assert metrics["accuracy"] == pytest.approx(row.accuracy)


@pytest.mark.e2e
def test_the_grid_metric_sets_start_from_the_cells_synthetic_sets(evaluation_grid):
    """Through the rules: the vae row's metric set (20 a class) holds its cell's 10 synthetic images of each class
    first, then 10 drawn; the combined row's is made of its members' metric sets."""
    res = evaluation_grid / "results" / "digits"
    for seed in (0, 1):
        cell = f"balanced/n100/s{seed}.npz"
        with np.load(res / "metric_sets" / "vae" / cell) as z, np.load(res / "synthetic" / "vae" / cell) as s:
            x, y, meta = z["images"], z["labels"], json.loads(str(z["meta"]))
            assert meta["reused"]["counts"] == [10] * 10 and np.bincount(y).tolist() == [20] * 10
            for c in range(10):
                np.testing.assert_array_equal(x[y == c][:10], s["images"][s["labels"] == c])
        assert (res / "metric_sets" / "combined" / cell).exists()


@pytest.mark.e2e
def test_a_complete_grid_has_nothing_to_do(evaluation_grid):
    r = snakemake(evaluation_grid, "-n")
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr


@pytest.mark.e2e
def test_generators_train_before_any_classifier_so_no_core_waits_for_them_at_the_end(evaluation_grid):
    """Rule priorities: every subset starts before any generator, every generator and the metrics' reference
    network before any classifier (with none, Snakemake took ready jobs in DAG order: the CPU evidence grid had not
    begun its last cddpm 82 min in, and its reference classifier ran alone at the end)."""
    first = sorted((evaluation_grid / ".snakemake" / "log").glob("*.snakemake.log"))[0].read_text()
    started = re.findall(r"^(?:local)?rule (\w+):", first, flags=re.M)
    assert started.count("subset") == 2 and started.count("train_gen") == 4, started
    last = {rule: max(i for i, r in enumerate(started) if r == rule) for rule in ("subset", "train_gen")}
    assert last["subset"] < started.index("train_gen") and last["train_gen"] < started.index("train_clf"), started
    assert started.index("reference") < started.index("train_clf"), started


@pytest.mark.e2e
def test_settings_that_do_not_change_results_rerun_nothing(evaluation_grid):
    """A new snapshot interval or device changes how jobs run, not what they compute: no rerun."""
    r = snakemake(evaluation_grid, "-n", "--config", "snapshot_every=37", "device=cuda:1")
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout[-2000:]


@pytest.mark.e2e
def test_one_cell_reruns_alone_and_reproduces_its_number(evaluation_grid, tmp_path):
    # on a copy: the shared grid stays complete for the other tests
    grid = tmp_path / "grid"
    shutil.copytree(evaluation_grid, grid, symlinks=True)
    target = "results/digits/classifiers/softmax/mixed/vae/none/balanced/n100/s1/metrics.json"
    before = json.loads((grid / target).read_text())
    (grid / target).unlink()
    dry = snakemake(grid, target, "-n")
    assert dry.returncode == 0 and job_counts(dry.stdout) == {"train_clf": 1, "total": 1}
    r = snakemake(grid, target, "--cores", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    after = json.loads((grid / target).read_text())
    assert after["accuracy"] == before["accuracy"]  # same seed, same CPU: the same number


@pytest.mark.e2e
def test_training_sets_combined_and_classifier_presets_plan_their_cells(tmp_path):
    cfg = {**TINY, "grid": {"regimes": ["balanced"], "sizes": [100], "classifiers": ["cnn", "softmax"],
                            "models": ["baseline", "vae", "cvae", "combined"], "train_sets": ["mixed", "synthetic"]}}
    cfg.pop("classifiers")  # the presets need no entry
    r = snakemake(tmp_path, "-n", config=cfg)
    assert r.returncode == 0, r.stderr[-2000:]
    counts = job_counts(r.stdout)
    # per seed and classifier: baseline (real) + 3 generator rows x 2 training sets
    assert counts["train_clf"] == 2 * 2 * (1 + 3 * 2)
    assert counts["combine"] == 2 and counts["sample"] == 2 * 2
    assert "classifiers/softmax/synthetic/combined/none/balanced/n100/s1/metrics.json" in r.stdout
    assert "classifiers/cnn/real/baseline/none/balanced/n100/s0/metrics.json" in r.stdout
    wrong = snakemake(tmp_path, "-n",
                      "results/digits/classifiers/cnn/mixed/baseline/none/balanced/n100/s0/metrics.json")
    assert wrong.returncode != 0
    assert "baseline, classic, oversampled train on `real` images" in wrong.stdout + wrong.stderr


@pytest.mark.e2e
def test_the_oversampled_arm_trains_on_real_images_in_class_balanced_passes(tmp_path):
    """One oversampled cell of an unequal regime, through Snakemake: real images only, the rule's flag reaches
    the stage, and the run records it."""
    cfg = {**TINY, "seeds": [0], "grid": {**TINY["grid"], "regimes": ["semi_balanced"],
                                          "models": ["baseline", "oversampled"]}}
    cell = "results/digits/classifiers/cnn/real/oversampled/none/semi_balanced/n100/s0"
    r = snakemake(tmp_path, "--cores", "1", f"{cell}/metrics.json", config=cfg)
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((tmp_path / cell / "metrics.json").read_text())
    assert metrics["oversample"] is True and metrics["n_synthetic"] == 0 and metrics["model"] == "oversampled"
    assert len(set(metrics["real_counts"])) > 1  # the classes it balanced were unequal
    log = (tmp_path / "results/digits/logs/train_clf/cnn/real/oversampled/none/semi_balanced/n100/s0.log")
    assert "class-balanced batches" in log.read_text()


@pytest.mark.e2e
@pytest.mark.parametrize("grid,message", [
    ({"models": ["baseline", "vae", "combined"]}, "mixes the synthetic sets of two or more generators"),
    ({"models": ["baseline", "combined"], "combined": ["vae", "baseline"]}, "grid.combined: 'baseline' has no"),
    ({"models": ["baseline"], "classifiers": ["vit"]}, "grid.classifiers: unknown classifier 'vit'"),
    ({"models": ["baseline", "vae"], "filters": ["none", "spheer"]}, "grid.filters: unknown filter 'spheer'"),
])
def test_bad_evaluation_axes_fail_at_config_time(tmp_path, grid, message):
    cfg = {**TINY, "grid": {**TINY["grid"], **grid}}
    r = snakemake(tmp_path, "-n", config=cfg)
    assert r.returncode != 0 and message in r.stdout + r.stderr


@pytest.mark.e2e
def test_dry_run_of_the_evaluation_grid(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    r = snakemake(tmp_path, "-n", "--configfile", str(REPO / "workflow" / "configs" / "evaluation.yaml"))
    assert r.returncode == 0, r.stderr[-2000:]
    counts = job_counts(r.stdout)
    cells = 3 * 2 * 3  # regimes x sizes x seeds
    assert counts["train_clf"] == cells * 2 * (2 + 2 * 2)  # classifiers x (baseline, classic, 2 generators x 2 sets)
    assert counts["probe"] == counts["train_clf"] and counts["gen_metrics"] == counts["metric_set"] == cells * 2
    assert counts["reference"] == 1 and counts["tsne"] == counts["train_clf"] // 3


@pytest.mark.e2e
@pytest.mark.parametrize("extra,message", [
    ({"filters": {"none": {"keep": 0.5}}}, "filters.none: 'none' is the reserved no-filter value"),
    ({"filters": {"tight": {"keep": 1.5}}}, "filters.tight.keep"),
    ({"gencls": {"m": 10, "L": 20}}, "gencls: m=10, L=20"),
    ({"autoencoder": {"family": "cvae"}}, "autoencoder.family"),
    ({"test": {"per_class": 0}}, "test.per_class"),
])
def test_bad_filter_gencls_and_test_settings_fail_at_config_time(tmp_path, extra, message):
    r = snakemake(tmp_path, "-n", config={**TINY, **extra})
    assert r.returncode != 0 and message in r.stdout + r.stderr, r.stdout[-1500:] + r.stderr[-1500:]


@pytest.mark.e2e
def test_dry_run_of_the_fewshot_grid(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    fewshot = str(REPO / "workflow" / "configs" / "fewshot.yaml")
    r = snakemake(tmp_path, "-n", "--configfile", fewshot)
    assert r.returncode == 0, r.stderr[-2000:]
    counts = job_counts(r.stdout)
    cells = 4 * 3  # shots x seeds
    assert counts["train_clf"] == cells * (2 + 2)  # baseline, classic, gan unfiltered and filtered
    assert counts["filter"] == counts["autoencoder"] == counts["gencls"] == counts["train_gen"] == cells
    assert "classifiers/cnn/mixed/gan/sphere/shots/k100/s2/metrics.json" in r.stdout
    assert "--test-per-class 100" in snakemake(tmp_path, "-n", "-p", "--configfile", fewshot).stdout
    assert "/baseline/sphere/" not in r.stdout
    wrong = snakemake(tmp_path, "-n", "results/fashion_mnist/classifiers/cnn/real/baseline/sphere/shots/k1/s0/"
                      "metrics.json", "--configfile", fewshot)
    assert wrong.returncode != 0 and "has no synthetic set to filter" in wrong.stdout + wrong.stderr


@pytest.mark.e2e
def test_dry_runs_of_the_convergence_and_sampler_grids(tmp_path):
    """The grids behind the measured convergence table and sampler benchmark plan what they say."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    r = snakemake(tmp_path, "-n", "--configfile", str(REPO / "workflow" / "configs" / "convergence.yaml"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert job_counts(r.stdout)["train_clf"] == 2 * 2 * 3 * 3  # regimes x sizes x seeds x arms
    samplers = str(REPO / "workflow" / "configs" / "samplers.yaml")
    targets = [f"results/fashion_mnist/gen_metrics/none/cddpm@{t}/balanced/n1000/s0.json"
               for t in ("dpm20-g1", "ddim50-g1", "dpm20-eta1-g1", "ddim50-eta1-g1", "ddpm1000-g1", "ddim1000-g1")]
    r = snakemake(tmp_path, *targets, "-n", "-p", "--configfile", samplers)  # targets first: --configfile takes many
    assert r.returncode == 0, r.stderr[-2000:]
    assert job_counts(r.stdout)["metric_set"] == 6 and '"eta": 1.0' in r.stdout
    assert job_counts(r.stdout)["train_gen"] == 1 and '"spacing": "lu"' in r.stdout
    longer = str(REPO / "workflow" / "configs" / "samplers_long.yaml")  # the longer-trained cddpm, same sets
    r = snakemake(tmp_path, *targets, "-n", "-p", "--configfile", samplers, longer)
    assert r.returncode == 0, r.stderr[-2000:]
    assert job_counts(r.stdout)["metric_set"] == 6 and job_counts(r.stdout)["train_gen"] == 1
    assert '"steps": 10000' in r.stdout and '"precision": "bf16"' in r.stdout and '"ema": 0.999' in r.stdout
    wide = str(REPO / "workflow" / "configs" / "samplers_gpu.yaml")  # the GPU-sized network, same sets
    r = snakemake(tmp_path, *targets, "-n", "-p", "--configfile", samplers, wide)
    assert r.returncode == 0, r.stderr[-2000:]
    assert job_counts(r.stdout)["metric_set"] == 6 and job_counts(r.stdout)["train_gen"] == 1
    assert '"steps": 3000' in r.stdout and '"channels": [64, 128, 128]' in r.stdout and '"batch_size": 512' in r.stdout
    assert '"ema": 0.998' in r.stdout
    assert '"sample_batch": 1000' in r.stdout and '"guidance": 1.0' in r.stdout


@pytest.mark.e2e
def test_dry_runs_of_the_competence_and_evidence_grids(tmp_path):
    """Issue 21's grids plan what docs/cpu-generators.md says: the competence check trains each of the three
    CPU generators once and scores each synthetic set alone; the evidence grid trains them per cell and seed,
    mixes them in `combined`, and its classifier trains in bf16 where the CPU has it (auto); its imbalanced
    half tops the small classes up and trains the oversampled arm beside baseline and classic."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    r = snakemake(tmp_path, "-n", "--configfile", str(REPO / "workflow" / "configs" / "competence.yaml"))
    assert r.returncode == 0, r.stderr[-2000:]
    counts = job_counts(r.stdout)
    assert (counts["train_gen"], counts["train_clf"], counts["gen_metrics"]) == (3, 4, 3)
    assert "classifiers/cnn/synthetic/cddpm@dpm20-eta1-g1/none/balanced/n1000/s0/metrics.json" in r.stdout
    r = snakemake(tmp_path, "-n", "-p", "--configfile", str(REPO / "workflow" / "configs" / "evidence.yaml"))
    assert r.returncode == 0, r.stderr[-2000:]
    counts = job_counts(r.stdout)
    cells = 1 * 3  # regimes x seeds at n1000: balanced only, what fits 120 minutes on 2 cores
    assert (counts["train_gen"], counts["combine"], counts["train_clf"]) == (3 * cells, cells, 6 * cells)
    assert '"precision": "auto"' in r.stdout and "--policy match" in r.stdout
    r = snakemake(tmp_path, "-n", "-p", "--configfile", *(str(REPO / "workflow" / "configs" / f"{name}.yaml")
                                                        for name in ("evidence", "evidence_imbalanced")))
    assert r.returncode == 0, r.stderr[-2000:]
    counts = job_counts(r.stdout)
    assert (counts["train_gen"], counts["combine"], counts["train_clf"]) == (3 * cells, cells, 7 * cells)
    assert "--policy balance" in r.stdout and "--policy match" not in r.stdout and "--oversample" in r.stdout
    assert "/balanced/" not in r.stdout and "classifiers/cnn/real/oversampled/none/imbalanced/n1000/s2" in r.stdout


# ------------------------------------------------------------------ a changed source is re-read

# make_folder's classes: cat, dog, owl; at 6 images a class, 3 of each are left to draw from (one to the test
# split, two held out), so the grid's sizes must fit those (the config check holds grid.sizes against them)
FOLDER_SEMI = {"semi_balanced": {"minority_classes": ["owl"], "ratio": 2}}
FOLDER_GRID = {**TINY["grid"], "sizes": [5]}


@pytest.mark.e2e
def test_a_changed_folder_dataset_is_read_again_and_an_unchanged_one_is_not(tmp_path):
    from genaug.data import load_dataset

    from .helpers import make_folder

    make_folder(tmp_path / "imgs", per_class=6)
    config = {**TINY, "dataset": "folder", "data_dir": str(tmp_path / "imgs"), "regimes": FOLDER_SEMI,
              "validation_per_class": 2, "grid": FOLDER_GRID}
    target = "results/folder/dataset.npz"
    done = snakemake(tmp_path, target, "--cores", "1", config=config)
    assert done.returncode == 0, done.stderr
    assert len(load_dataset(tmp_path / target).train_y) + len(load_dataset(tmp_path / target).test_y) == 18
    again = snakemake(tmp_path, target, "-n", "--cores", "1")
    assert "Nothing to be done" in again.stdout + again.stderr
    for png in (tmp_path / "imgs").rglob("*.png"):  # touched, not changed: the cache stands
        os.utime(png)
    again = snakemake(tmp_path, target, "-n", "--cores", "1")
    assert "Nothing to be done" in again.stdout + again.stderr and "same content" in again.stderr
    crop = snakemake(tmp_path, target, "-n", "-p", "--cores", "1", "--config", "folder={fit: crop}")
    assert job_counts(crop.stdout).get("prepare") == 1 and "--fit crop" in crop.stdout, crop.stdout  # a new dataset
    assert "--fit" not in again.stdout  # the default adds no parameter, so a cache from before folder.fit stands

    make_folder(tmp_path / "more", per_class=3, classes=("dog",))
    for png in (tmp_path / "more" / "dog").iterdir():
        shutil.move(png, tmp_path / "imgs" / "dog" / f"new_{png.name}")
    plan = snakemake(tmp_path, target, "-n", "--cores", "1")
    assert plan.returncode == 0 and job_counts(plan.stdout).get("prepare") == 1, plan.stdout
    done = snakemake(tmp_path, target, "--cores", "1")
    assert done.returncode == 0, done.stderr
    ds = load_dataset(tmp_path / target)
    assert len(ds.train_y) + len(ds.test_y) == 21

    (tmp_path / "imgs" / "owl" / "0.png").unlink()
    plan = snakemake(tmp_path, target, "-n", "--cores", "1")
    assert job_counts(plan.stdout).get("prepare") == 1, plan.stdout


@pytest.mark.e2e
def test_another_folder_dataset_does_not_replace_the_results_of_the_first(tmp_path):
    """Pointing data_dir at another folder would have read it into results/folder/ and recomputed every cell over
    the first dataset's results. It is refused, naming folder.name, which gives it a results folder of its own;
    the same files copied elsewhere are the same dataset."""
    from .helpers import make_folder

    make_folder(tmp_path / "imgs", per_class=6)
    make_folder(tmp_path / "birds", per_class=5, classes=("crow", "wren", "owl"))
    config = {**TINY, "dataset": "folder", "data_dir": str(tmp_path / "imgs"), "validation_per_class": 2,
              "grid": {**FOLDER_GRID, "regimes": ["balanced"]}}
    target = "results/folder/dataset.npz"
    assert snakemake(tmp_path, target, "--cores", "1", config=config).returncode == 0
    manifest = (tmp_path / "results" / "folder" / "source_manifest.json").read_text()
    other = snakemake(tmp_path, target, "-n", "--cores", "1", "--config", f"data_dir={tmp_path / 'birds'}")
    assert other.returncode != 0
    assert (f"--config: data_dir: {tmp_path / 'birds'} (15 files) is another folder dataset than the one whose results "
            f"are in results/folder/ ({tmp_path / 'imgs'}, 18 files); running would replace them. Keep both: set "
            f"folder.name (e.g. folder.name: birds) to put this dataset's results in results/birds/") in other.stdout
    assert (tmp_path / "results" / "folder" / "source_manifest.json").read_text() == manifest  # untouched
    named = snakemake(tmp_path, "results/birds/dataset.npz", "--cores", "1", "--config",
                      f"data_dir={tmp_path / 'birds'}", "folder={name: birds}")
    assert named.returncode == 0, named.stderr
    shutil.copytree(tmp_path / "imgs", tmp_path / "imgs_copy")  # the same files elsewhere: the same dataset
    again = snakemake(tmp_path, target, "-n", "--cores", "1", "--config", f"data_dir={tmp_path / 'imgs_copy'}")
    assert again.returncode == 0 and "same content" in again.stderr, again.stdout + again.stderr


@pytest.mark.e2e
def test_a_folder_on_a_drive_not_mounted_reruns_nothing_and_a_missing_one_is_named(tmp_path):
    """One snakemake call while the images' drive was not mounted (its folder gone, or an empty mount point)
    rewrote the manifest, so every cell reran once the drive was back. The record is kept and the cells read the
    cache; without a cache, the run stops before any job naming data_dir."""
    from .helpers import make_folder

    make_folder(tmp_path / "drive", per_class=6)
    config = {**TINY, "dataset": "folder", "data_dir": str(tmp_path / "drive"), "regimes": FOLDER_SEMI,
              "validation_per_class": 2, "grid": FOLDER_GRID}
    target = "results/folder/dataset.npz"
    assert snakemake(tmp_path, target, "--cores", "1", config=config).returncode == 0
    manifest = tmp_path / "results" / "folder" / "source_manifest.json"
    recorded = manifest.read_text()
    (tmp_path / "drive").rename(tmp_path / "unplugged")
    for state in ("gone", "empty mount point"):
        plan = snakemake(tmp_path, target, "-n", "--cores", "1")
        assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, (state, plan.stdout)
        assert f"{tmp_path / 'drive'} lists none of the 18 files of dataset 'folder' now" in plan.stderr, state
        assert manifest.read_text() == recorded
        (tmp_path / "drive").mkdir(exist_ok=True)
    (tmp_path / "drive").rmdir()
    (tmp_path / "unplugged").rename(tmp_path / "drive")
    back = snakemake(tmp_path, target, "-n", "--cores", "1")
    assert "Nothing to be done" in back.stdout + back.stderr, back.stdout
    fresh = snakemake(tmp_path, target, "-n", "--cores", "1", "--config", f"data_dir={tmp_path / 'nowhere'}",
                      "folder={name: other}")
    assert fresh.returncode != 0
    assert (f"--config: data_dir: {tmp_path / 'nowhere'} is not a directory; a folder dataset reads "
            f"data_dir/<class>/*.png") in fresh.stdout, fresh.stdout


@pytest.mark.e2e
def test_a_colour_folder_dataset_of_non_square_images_runs_to_the_report(tmp_path):
    """A user's own images: colour, 40x30, cropped to a square and resized to 16 px; a generator, its metrics and
    the probes run on three channels, and the report says what was done to the images."""
    from .helpers import make_folder

    make_folder(tmp_path / "imgs", mode="RGB", per_class=24)
    config = {**TINY, "dataset": "folder", "data_dir": str(tmp_path / "imgs"), "image_size": 16,
              "folder": {"fit": "crop", "name": "colour"}, "validation_per_class": 3,
              "grid": {"regimes": ["balanced"], "sizes": [18], "models": ["baseline", "cvae"], "classifiers": ["cnn"]},
              "gen_metrics": {"enabled": True, "per_class": 2, "reference_epochs": 1},
              "probes": {"enabled": True, "max_points": 60, "tsne_points": 50}}
    r = snakemake(tmp_path, "--cores", "2", config=config)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = tmp_path / "results" / "colour"  # folder.name
    summary = pd.read_csv(res / "summary.csv")
    assert sorted(set(summary["model"])) == ["baseline", "cvae"] and summary["accuracy"].between(0, 1).all()
    with np.load(res / "synthetic" / "cvae" / "balanced" / "n18" / "s0.npz") as z:
        assert z["images"].shape[1:] == (3, 16, 16)
    assert len(pd.read_csv(res / "gen_metrics.csv")) == 2
    page = (tmp_path / "results" / "report.html").read_text(encoding="utf-8")
    assert "not square: centre square cropped" in page and "(3, 16, 16)" in (res / "logs" / "prepare.log").read_text()
    assert "<h1>genaug report: folder colour</h1>" in page


@pytest.mark.e2e
def test_a_cache_from_before_source_tracking_is_kept_with_a_warning(tmp_path):
    """Upgrading must not rerun a grid: a cache without a manifest is trusted and the rebuild command named."""
    from genaug.data import load_source, save_dataset

    from .helpers import make_folder

    make_folder(tmp_path / "imgs", per_class=6)
    config = {**TINY, "dataset": "folder", "data_dir": str(tmp_path / "imgs"), "regimes": FOLDER_SEMI,
              "validation_per_class": 2, "grid": FOLDER_GRID}
    (tmp_path / "results" / "folder").mkdir(parents=True)
    save_dataset(load_source("folder", data_dir=tmp_path / "imgs"), tmp_path / "results/folder/dataset.npz")
    plan = snakemake(tmp_path, "results/folder/dataset.npz", "-n", "--cores", "1", config=config)
    assert "Nothing to be done" in plan.stdout + plan.stderr
    assert "predates source tracking" in plan.stderr and "--forcerun prepare" in plan.stderr

