"""The catalogue of malformed inputs: each gives one clear message naming the item, a non-zero exit, no stray output.

Config mistakes are caught by `snakemake -n` before any job runs; data and file mistakes by the
`genaug` stage that meets them (exit status 2), which leaves its output unwritten.
"""

import json

import numpy as np
import pytest
import torch
import yaml

from genaug.cli import main

from .helpers import REPO, change_config, snakemake
from .helpers import fake_mnist_files, make_folder, write_idx

DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def changed(path: str, value) -> dict:
    return change_config(DEFAULT, path, value)


# ------------------------------------------------------------------ config.yaml: refused before any job

CONFIGS = [
    ("wrong type", "seeds", "zero", "seeds: 'zero' is not of type 'array'"),
    ("wrong type, nested", "grid.sizes", "1000", "grid.sizes: '1000' is not of type 'array'"),
    ("unknown key", "grid.modles", ["vae"], "'modles' was unexpected"),
    ("negative size", "grid.sizes", [-500, 1000], "grid.sizes.0: -500 is less than the minimum of 1"),
    ("empty model axis", "grid.models", [], "grid.models: [] should be non-empty"),
    ("empty size axis", "grid.sizes", [], "grid.sizes is empty but grid.regimes has 'balanced'"),
    ("empty seed list", "seeds", [], "seeds: [] should be non-empty"),
    ("unknown family", "models.vae.family", "gan9000", "models.vae.family: unknown generator family 'gan9000'; "
     "choose one of vae, conv_vae"),
    ("an images model without a path", "models.vae", {"family": "images"},
     "models.vae: 'path' is a required property"),
    ("training settings on images, which do not train", "models.vae", {"family": "images", "path": "p", "steps": 5},
     "models.vae: Additional properties are not allowed ('steps' was unexpected)"),
    ("a python_path folder that does not exist", "python_path", ["no/such/dir"],
     "no/such/dir is not a folder; give the folder that holds your generator module"),
    ("a generator module that does not import", "models.vae.family", "no_such_pkg.gens:MyGen",
     "models.vae.family: family 'no_such_pkg.gens:MyGen': cannot import module 'no_such_pkg.gens'"),
    ("a generator class the module lacks", "models.vae.family", "genaug.generators.vae:NoSuchVAE",
     "models.vae.family: family 'genaug.generators.vae:NoSuchVAE': module 'genaug.generators.vae' has no class "
     "'NoSuchVAE'"),
    ("a generator class that is not a Generator", "models.vae.family", "collections:OrderedDict",
     "models.vae.family: family 'collections:OrderedDict' (collections:OrderedDict): subclass "
     "genaug.generators.base.Generator"),
    ("a sampler for a model that has none", "models.vae.sampler", "ddim", "models.vae: Additional properties"),
    ("a generator precision genaug does not train in", "models.vae.precision", "fp16",
     "models.vae.precision: 'fp16' is not one of ['fp32', 'bf16', 'auto']"),
    ("model in the grid but not defined", "grid.models", ["baseline", "diffusion"],
     "grid.models: unknown model 'diffusion'"),
    ("a model name misspelt", "grid.models", ["baseline", "cvea"],
     "grid.models: unknown model 'cvea' (did you mean 'cvae'?); define it under `models:`"),
    ("a combined member misspelt", "grid.combined", ["cvae", "cddmp"],
     "grid.combined: unknown model 'cddmp' (did you mean 'cddpm'?)"),
    ("a classic shift of half the image", "classic.shift", 14, "classic.shift: shifts of up to 14 px can move an "
     "image 28 px wide half or wholly out of its frame; use at most 13, or about 2 (what 2 px is to 28)"),
    ("unknown regime", "grid.regimes", ["balanced", "lopsided"], "grid.regimes.1: 'lopsided' is not one of"),
    ("negative snapshot interval", "snapshot_every", -1, "snapshot_every: -1 is less than the minimum of 0"),
    ("a policy that makes no synthetic images", "synthesis", {"policy": "per_class", "per_class": 0},
     "synthesis.per_class: 0 makes no synthetic images for vae; give at least 1 per class"),
    ("a zero synthetic ratio", "synthesis", {"policy": "ratio", "ratio": 0},
     "synthesis.ratio: 0 makes no synthetic images for vae"),
    ("policy balance on balanced subsets", "synthesis", {"policy": "balance"},
     "synthesis.policy: balance tops each class up to the largest, so in regime 'balanced'"),
    ("a seed listed twice", "seeds", [0, 0], "seeds: a seed is listed twice; replicates need distinct seeds"),
    ("a negative seed", "seeds", [-1], "seeds.0: -1 is less than the minimum of 0"),
    ("an imbalance ratio below 1", "regimes.imbalanced.ratio", 0.5, "regimes.imbalanced.ratio: 0.5 is less than"),
    ("a minority class the dataset does not have", "regimes.semi_balanced.minority_classes", ["Jacket"],
     "regimes.semi_balanced.minority_classes: 'Jacket' is not a class of fashion_mnist (classes: T-shirt/top"),
    ("a minority class index out of range", "regimes.semi_balanced.minority_classes", [2, 10],
     "regimes.semi_balanced.minority_classes: index 10 is out of range 0..9"),
    ("a dataset genaug does not know", "dataset", "cifar10", "dataset: 'cifar10' is not one of"),
    ("an image size too small for the networks", "image_size", 4, "image_size: 4 is less than the minimum of 8"),
    ("zero training steps", "models.vae.steps", 0, "models.vae.steps: 0 is less than the minimum of 1"),
    ("a negative learning rate", "models.vae.lr", -0.1, "models.vae.lr: -0.1 is less than or equal to the minimum"),
    ("a yes/no written as a string", "models.vae.per_class", "yes", "models.vae.per_class: 'yes' is not of type"),
    ("a classifier batch of zero", "classifiers.cnn.batch_size", 0, "classifiers.cnn.batch_size: 0 is less than"),
    ("a generator batch no memory holds", "models.vae.batch_size", 100000,
     "models.vae.batch_size: 100000 is greater than the maximum of 65536"),
    ("a classifier that is not defined", "grid.classifiers", ["resnet99"],
     "grid.classifiers: unknown classifier 'resnet99'"),
    ("a model listed twice", "grid.models", ["baseline", "baseline"], "grid.models: ['baseline', 'baseline'] has "
     "non-unique elements"),
    ("a sampler with zero steps", "grid.models", ["baseline", "cddpm@dpm0"],
     "grid.models: 'cddpm@dpm0': sampling.steps: 0 is not in 1..1000"),
    ("generative metrics on too few images", "gen_metrics.per_class", 0, "gen_metrics.per_class: 0 is less than"),
    ("a negative test subset", "test.per_class", -3, "test.per_class: -3 is less than the minimum of 1"),
    ("no validation images", "validation_per_class", 0, "validation_per_class: 0 is less than the minimum of 1"),
    ("an effort that does not exist", "effort", "fast", "effort: 'fast' is not one of ['smoke', 'quick', 'paper']"),
    ("a confidence above 1", "synthesis.min_confidence", 1.5, "synthesis.min_confidence: 1.5 is greater than"),
    ("a data_dir that is a number", "data_dir", 5, "data_dir: 5 is not of type 'string', 'null'"),
]


@pytest.mark.e2e
@pytest.mark.parametrize("what,path,value,message", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_bad_config_is_refused_before_any_job(tmp_path, what, path, value, message):
    r = snakemake(tmp_path, "-n", config=changed(path, value))
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert message in out, out[-1500:]
    assert "Traceback" not in out
    assert not (tmp_path / "results").exists()


# ------------------------------------------------------------------ data and files: refused by the stage


def _truncated_idx(d):
    fake_mnist_files(d / "raw")
    f = d / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    return ["prepare", "--dataset", "mnist", "--data-dir", str(d / "raw"), "--cache-dir", str(d / "cache")], \
        "train-images-idx3-ubyte: IDX header says"


def _labels_out_of_range(d):
    fake_mnist_files(d / "raw")
    write_idx(d / "raw" / "t10k-labels-idx1-ubyte", np.array([3] * 19 + [12]))
    return ["prepare", "--dataset", "mnist", "--data-dir", str(d / "raw"), "--cache-dir", str(d / "cache")], \
        "t10k-labels-idx1-ubyte: label 12 is outside 0..9"


def _missing_directory(d):
    return ["prepare", "--dataset", "folder", "--data-dir", str(d / "no_such_dir")], \
        f"data_dir {d / 'no_such_dir'} is not a directory"


def _empty_class_folder(d):
    make_folder(d / "imgs")
    (d / "imgs" / "emu").mkdir()
    return ["prepare", "--dataset", "folder", "--data-dir", str(d / "imgs")], "emu: class folder holds no images"


def _corrupt_png(d):
    make_folder(d / "imgs")
    (d / "imgs" / "dog" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return ["prepare", "--dataset", "folder", "--data-dir", str(d / "imgs")], "3.png: cannot be read as an image"


def _size_larger_than_pool(d, cache):
    return ["subset", "--data", str(cache), "--regime", "balanced", "--size", "n5000", "--seed", "0"], \
        "regime 'balanced' at size n5000 needs"


def _corrupt_cache(d, cache):
    (d / "dataset.npz").write_bytes(b"PK\x03\x04 truncated")
    return ["subset", "--data", str(d / "dataset.npz"), "--regime", "balanced", "--size", "n100", "--seed", "0"], \
        "dataset.npz: not a readable dataset cache"


def _corrupt_subset(d, cache):
    (d / "sub.npz").write_text("not numpy")
    return _train_clf(cache, d / "sub.npz"), "sub.npz: not a readable subset file"


def _corrupt_checkpoint(d, cache, sub):
    (d / "model.pt").write_bytes(b"\x80\x02}q\x00 torn")
    return _sample(cache, sub, d / "model.pt"), "model.pt: not a readable generator checkpoint"


def _checkpoint_of_another_dataset(d, cache, sub):
    from genaug import generators as gens

    spec = {"name": "vae", "family": "vae", "per_class": True, "label_strategy": None, "hparams": {}}
    model = gens.build(spec, (3, 32, 32), 10)
    gens.save(d / "model.pt", model, spec, {"image_shape": [3, 32, 32], "num_classes": 10, "dataset": "folder"}, [])
    return _sample(cache, sub, d / "model.pt"), "model.pt: trained on folder images of shape (3, 32, 32)"


def _checkpoint_of_another_model(d, cache, sub):
    from genaug import generators as gens

    spec = {"name": "vae", "family": "vae", "per_class": True, "label_strategy": None, "hparams": {}}
    other = {**spec, "hparams": {"latent_dim": 8}}  # weights of a smaller latent space under this spec
    weights = gens.build(other, (1, 28, 28), 10).state_dict()
    torch.save({"spec": spec, "meta": {"image_shape": [1, 28, 28], "num_classes": 10}, "history": [],
                "state_dict": weights}, d / "model.pt")
    return _sample(cache, sub, d / "model.pt"), "model.pt: its weights do not fit the 'vae' model"


def _pickled_object_checkpoint(d, cache, sub):
    torch.save({"spec": object(), "meta": {}}, d / "model.pt")  # needs unpickling arbitrary code: refused
    return _sample(cache, sub, d / "model.pt"), "model.pt: not a readable generator checkpoint (UnpicklingError"


def _synthetic_of_wrong_shape(d, cache, sub):
    np.savez(d / "syn.npz", images=np.zeros((4, 1, 8, 8), np.uint8), labels=np.zeros(4, np.int64),
             meta=np.array("{}"))
    return _train_clf(cache, sub, "--synthetic", str(d / "syn.npz")), \
        "syn.npz: expected uint8 images of shape (1, 28, 28)"


def _bad_spec_json(d, cache, sub):
    return ["train_gen", "--data", str(cache), "--subset", str(sub), "--seed", "0", "--spec", "{family: vae",
            "--out", str(d / "out" / "model.pt"), "--loss-log", str(d / "out" / "loss.csv")], \
        "argument --spec: not valid JSON"


def _unknown_family_spec(d, cache, sub):
    spec = {"name": "g", "family": "gan9000", "per_class": True, "train": {"steps": 5, "batch_size": 4, "lr": 1e-3}}
    return ["train_gen", "--data", str(cache), "--subset", str(sub), "--seed", "0", "--spec", json.dumps(spec),
            "--out", str(d / "out" / "model.pt"), "--loss-log", str(d / "out" / "loss.csv")], \
        "unknown generator family 'gan9000'"


def _truncated_metrics(d, cache, sub):
    (d / "metrics.json").write_text('{"accuracy": 0.9')
    return ["aggregate", "--out", str(d / "out" / "summary.csv"), str(d / "metrics.json")], \
        "metrics.json: not a valid metrics.json (Expecting"


GOOD_METRICS = {
    "dataset": "digits", "classifier": "cnn", "train_set": "real", "model": "baseline", "filter": "none",
    "regime": "balanced", "size": "n100", "size_value": 100, "seed": 0, "status": "ok", "accuracy": 0.9,
    "macro_f1": 0.88, "n_real": 100, "n_synthetic": 0, "best_step": 50, "steps_run": 80, "stopped_by": "patience",
    "best_val_accuracy": 0.9, "wall_time_s": 3.0, "per_class": {"0": {"recall": 0.9, "precision": 0.8}},
}


def _metrics_with(change: dict, message: str):
    def case(d, cache, sub):
        (d / "metrics.json").write_text(json.dumps({**GOOD_METRICS, **change}))
        return ["aggregate", "--out", str(d / "out" / "summary.csv"), str(d / "metrics.json")], message
    case.__name__ = "_metrics_" + "_".join(change)
    return case


_METRICS_CASES = [
    _metrics_with({"accuracy": "high"}, "metrics.json: not a valid metrics.json (accuracy is 'high', not a number"),
    _metrics_with({"accuracy": 1.7}, "accuracy is 1.7, not a number in [0, 1]"),
    _metrics_with({"n_real": -5}, "n_real is -5, not a whole number >= 0"),
    _metrics_with({"status": "great"}, "status is 'great', not 'ok' or 'diverged'"),
    _metrics_with({"per_class": {"0": {"recall": None, "precision": 0.8}}}, "per_class.0.recall is None"),
]


def _train_clf(cache, sub, *extra):
    clf = json.dumps({"name": "cnn", "arch": "cnn", "hparams": {}, "train": {"max_steps": 2, "eval_every": 1,
                                                                              "patience_steps": 2}})
    out = sub.parent / "out"
    return ["train_clf", "--data", str(cache), "--subset", str(sub), "--classifier", clf, "--model", "vae", "--seed",
            "0", *extra, "--out", str(out / "metrics.json"), "--embeddings", str(out / "emb.npz")]


def _sample(cache, sub, model):
    out = sub.parent / "out"
    return ["sample", "--data", str(cache), "--subset", str(sub), "--generator", str(model), "--seed", "0",
            "--out", str(out / "syn.npz"), "--grid", str(out / "syn.png")]


DATA = [_truncated_idx, _labels_out_of_range, _missing_directory, _empty_class_folder, _corrupt_png]
WITH_CACHE = [_size_larger_than_pool, _corrupt_cache, _corrupt_subset]
WITH_SUBSET = [_corrupt_checkpoint, _checkpoint_of_another_dataset, _checkpoint_of_another_model,
               _pickled_object_checkpoint, _synthetic_of_wrong_shape, _bad_spec_json,
               _unknown_family_spec, _truncated_metrics, *_METRICS_CASES]


@pytest.fixture(scope="module")
def good_subset(digits_cache, tmp_path_factory):
    sub = tmp_path_factory.mktemp("good") / "sub.npz"
    assert main(["subset", "--data", str(digits_cache), "--regime", "balanced", "--size", "n100", "--seed", "0",
                 "--validation-per-class", "10", "--out", str(sub), "--log", str(sub.with_suffix(".log"))]) == 0
    return sub


def _files(folder):
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", DATA + WITH_CACHE + WITH_SUBSET, ids=lambda f: f.__name__.strip("_"))
def test_bad_data_or_file_is_named_and_nothing_is_written(case, tmp_path, digits_cache, good_subset, capsys):
    work = tmp_path / "work"
    work.mkdir()
    if case in DATA:
        argv, message = case(work)
        argv += ["--out", str(work / "out" / "dataset.npz")]
    elif case in WITH_CACHE:
        argv, message = case(work, digits_cache)
        if "--out" not in argv:
            argv += ["--out", str(work / "out" / "sub.npz")]
    else:
        sub = work / "sub.npz"
        sub.write_bytes(good_subset.read_bytes())
        argv, message = case(work, digits_cache, sub)
    before = _files(work)
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse refuses bad option values itself
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2
    assert message in err, err
    assert "Traceback" not in err
    new = _files(work) - before
    assert not [p for p in new if "cache" not in p.parts and "raw" not in p.parts], new  # no stray outputs
    assert not (work / "out").exists() or not any((work / "out").iterdir())


def test_a_test_subset_larger_than_the_test_split_stops_train_clf_before_it_trains(tmp_path, digits_cache,
                                                                                      good_subset, capsys):
    """The config check catches it where the counts are known before any job; where they are not (an IDX dataset
    not yet downloaded), the job must not train first and fail at scoring."""
    sub = tmp_path / "sub.npz"
    sub.write_bytes(good_subset.read_bytes())
    assert main(_train_clf(digits_cache, sub, "--test-per-class", "53")) == 2
    err = capsys.readouterr().err
    assert "test.per_class: 53, but class '8' has only 52 test images" in err and "training cnn" not in err, err
    assert not (tmp_path / "out").exists()


def test_the_catalogue_has_at_least_fifty_cases():
    assert len(CONFIGS) + len(DATA) + len(WITH_CACHE) + len(WITH_SUBSET) >= 50


def test_the_config_time_class_names_are_the_loaders():
    """config.BUILTIN_CLASSES lets a misspelt class fail before any job; it must match what prepare reads."""
    import torchvision

    from genaug.config import BUILTIN_CLASSES
    from genaug.data import load_source

    assert BUILTIN_CLASSES["fashion_mnist"] == torchvision.datasets.FashionMNIST.classes
    assert BUILTIN_CLASSES["mnist"] == torchvision.datasets.MNIST.classes
    assert BUILTIN_CLASSES["digits"] == load_source("digits").classes
