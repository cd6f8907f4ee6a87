"""Every `genaug <stage>` on tiny real data (digits), and the CLI's error contract."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from genaug.cli import build_parser, main

from .helpers import BIN

CLF = json.dumps({"name": "cnn", "arch": "cnn", "hparams": {},
                  "train": {"max_steps": 10, "eval_every": 5, "patience_steps": 5}})
VAE = json.dumps({"name": "vae", "family": "vae", "per_class": True, "hparams": {},
                  "train": {"steps": 30, "batch_size": 16, "lr": 1e-3}})


@pytest.fixture(scope="module")
def cell(digits_cache, tmp_path_factory):
    """One cell's files, made stage by stage through the CLI."""
    d = tmp_path_factory.mktemp("cell")
    data = str(digits_cache)
    assert main(["subset", "--data", data, "--regime", "semi_balanced", "--size", "n120", "--seed", "0",
                 "--validation-per-class", "10", "--minority-classes", "2,6", "--out", f"{d}/sub.npz",
                 "--log", f"{d}/subset.log"]) == 0
    assert main(["train_gen", "--data", data, "--subset", f"{d}/sub.npz", "--spec", VAE, "--seed", "0",
                 "--out", f"{d}/gen.pt", "--loss-log", f"{d}/loss.csv", "--log", f"{d}/gen.log"]) == 0
    assert main(["sample", "--data", data, "--subset", f"{d}/sub.npz", "--generator", f"{d}/gen.pt", "--seed", "0",
                 "--policy", "balance", "--out", f"{d}/syn.npz", "--grid", f"{d}/syn.png", "--log", f"{d}/s.log"]) == 0
    for model, extra in [("baseline", []), ("classic", ["--classic", '{"shift": 2, "flip": "auto"}']),
                         ("vae", ["--synthetic", f"{d}/syn.npz"])]:
        assert main(["train_clf", "--data", data, "--subset", f"{d}/sub.npz", "--classifier", CLF, "--model", model,
                     *extra, "--seed", "0", "--out", f"{d}/{model}/metrics.json",
                     "--embeddings", f"{d}/{model}/emb.npz", "--log", f"{d}/{model}.log"]) == 0
    return d


def test_subset_file_records_indices_labels_and_counts(cell):
    with np.load(cell / "sub.npz") as z:
        assert z["counts"].sum() == 120 == len(z["indices"]) == len(z["labels"])
        assert z["counts"][2] == z["counts"][6] < z["counts"][0]
    assert "120 images" in (cell / "subset.log").read_text()


def test_train_gen_writes_checkpoint_and_loss_log(cell):
    loss = pd.read_csv(cell / "loss.csv")
    assert set(loss["class"]) == set(range(10)) and {"step", "epoch", "loss", "recon", "kl"} <= set(loss.columns)
    with np.load(cell / "sub.npz") as z:
        counts = z["counts"]
    last = loss[loss["step"] == 30].set_index("class")["epoch"]  # 30 steps of 16 images, per class
    assert np.allclose(last.sort_index().values, np.round(30 * 16 / counts, 3))
    ckpt = torch.load(cell / "gen.pt", weights_only=True)
    assert ckpt["meta"]["steps"] == 30 and ckpt["meta"]["epochs"] == last.max()
    assert ckpt["spec"]["family"] == "vae" and ckpt["history"][-1]["step"] == 30
    assert "per-class models step 30/30" in (cell / "gen.log").read_text()


def test_sample_balances_the_subset_and_draws_a_grid(cell):
    with np.load(cell / "syn.npz") as z:
        images, labels, meta = z["images"], z["labels"], json.loads(str(z["meta"]))
    with np.load(cell / "sub.npz") as z:
        real = z["counts"]
    assert images.dtype == np.uint8 and images.shape[1:] == (1, 28, 28)
    assert (np.bincount(labels, minlength=10) + real == real.max()).all()
    assert meta["policy"] == "balance" and meta["label_strategy"] == "per_class"
    assert (cell / "syn.png").read_bytes()[:4] == b"\x89PNG"


def test_train_clf_metrics_count_real_and_synthetic_and_score_the_test_split(cell, digits):
    base = json.loads((cell / "baseline" / "metrics.json").read_text())
    vae = json.loads((cell / "vae" / "metrics.json").read_text())
    assert base["n_real"] == vae["n_real"] == 120
    assert base["n_synthetic"] == 0 and vae["n_synthetic"] == sum(vae["synthetic_counts"]) > 0
    assert base["n_test"] == len(digits.test_y)
    cm = np.array(base["confusion_matrix"])
    assert cm.sum() == len(digits.test_y) and np.trace(cm) / cm.sum() == pytest.approx(base["accuracy"])
    assert set(base["per_class"]) == set(digits.classes)
    assert base["classifier_params"] == 1_658_890 and base["wall_time_s"] > 0
    with np.load(cell / "baseline" / "emb.npz") as z:
        assert z["embeddings"].shape == (len(digits.test_y), 128)


def test_aggregate_and_report(cell, tmp_path):
    metrics = [str(cell / m / "metrics.json") for m in ["baseline", "classic", "vae"]]
    assert main(["aggregate", "--out", f"{tmp_path}/summary.csv", *metrics]) == 0
    df = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(df["model"]) == ["baseline", "classic", "vae"] and (df["size_value"] == 120).all()
    assert main(["report", "--summary", f"{tmp_path}/summary.csv", "--samples", str(cell / "syn.png"),
                 "--meta", '{"effort": "smoke"}', "--out", f"{tmp_path}/report.html"]) == 0
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "Paired gain" in page


def run_cli(*args):
    return subprocess.run([str(BIN / "genaug"), *args], capture_output=True, text=True)


def test_error_exits_non_zero_with_one_line_and_no_output(digits_cache, tmp_path):
    out = tmp_path / "sub.npz"
    r = run_cli("subset", "--data", str(digits_cache), "--regime", "balanced", "--size", "n5000", "--seed", "0",
                "--out", str(out))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "smaller size" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_errors_also_reach_the_log(digits_cache, tmp_path):
    r = run_cli("subset", "--data", str(digits_cache), "--regime", "lopsided", "--size", "n10", "--seed", "0",
                "--out", str(tmp_path / "s.npz"), "--log", str(tmp_path / "s.log"))
    assert r.returncode == 2 and "unknown regime 'lopsided'" in r.stderr
    assert "unknown regime 'lopsided'" in (tmp_path / "s.log").read_text()


def test_corrupt_synthetic_set_is_named(cell, digits_cache, tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    code = main(["train_clf", "--data", str(digits_cache), "--subset", str(cell / "sub.npz"), "--classifier", CLF,
                 "--model", "vae", "--synthetic", str(tmp_path / "bad.npz"), "--seed", "0",
                 "--out", str(tmp_path / "m.json"), "--embeddings", str(tmp_path / "e.npz")])
    assert code == 2 and not (tmp_path / "m.json").exists()


@pytest.mark.heavy
def test_sample_pseudo_labels_with_a_classifier_trained_on_the_real_subset(cell, digits_cache, tmp_path):
    data = str(digits_cache)
    spec = json.dumps({"name": "vae_pseudo", "family": "vae", "label_strategy": "pseudo_label", "hparams": {},
                       "train": {"steps": 300, "batch_size": 32, "lr": 2e-3}})
    labeler = json.dumps({"name": "cnn", "arch": "cnn", "hparams": {},
                          "train": {"max_steps": 100, "eval_every": 10, "patience_steps": 50}})
    assert main(["train_gen", "--data", data, "--subset", f"{cell}/sub.npz", "--spec", spec, "--seed", "0",
                 "--out", f"{tmp_path}/gen.pt", "--loss-log", f"{tmp_path}/loss.csv"]) == 0
    common = ["sample", "--data", data, "--subset", f"{cell}/sub.npz", "--generator", f"{tmp_path}/gen.pt",
              "--seed", "0", "--policy", "per_class", "--per-class", "8", "--out", f"{tmp_path}/syn.npz",
              "--grid", f"{tmp_path}/syn.png", "--log", f"{tmp_path}/s.log",
              "--min-diversity", "0"]  # a briefly trained VAE's confident samples are near-prototypes
    assert main(common) == 2  # no labelling classifier given
    assert "pseudo_label needs --labeler" in (tmp_path / "s.log").read_text()
    assert not (tmp_path / "syn.npz").exists()
    weak = labeler.replace('"max_steps": 100', '"max_steps": 2')  # two steps on 120 images: never that sure
    assert main([*common, "--labeler", weak, "--min-confidence", "0.95"]) == 2
    assert "pseudo_label kept none of" in (tmp_path / "s.log").read_text()
    assert not (tmp_path / "syn.npz").exists()
    assert main([*common, "--labeler", labeler, "--min-confidence", "0.6"]) == 0
    with np.load(tmp_path / "syn.npz") as z:
        labels, meta = z["labels"], json.loads(str(z["meta"]))
    pseudo = meta["pseudo_label"]
    assert pseudo["threshold"] == 0.6 and 0 < pseudo["labeler_val_accuracy"] <= 1
    assert pseudo["made"] == np.bincount(labels, minlength=10).tolist() == meta["made_counts"]
    assert [a - b for a, b in zip(pseudo["requested"], pseudo["made"])] == pseudo["short"]
    assert sum(pseudo["made"]) > 0 and pseudo["drawn"] >= sum(pseudo["made"])
    assert "training the labelling classifier" in (tmp_path / "s.log").read_text()


def _fake_set(path, images, labels, **meta):
    np.savez(path, images=images, labels=labels, meta=np.array(json.dumps({"status": "ok", **meta})))


def test_combine_draws_evenly_from_its_members_at_one_sets_size(digits, digits_cache, tmp_path):
    x, y = digits.train_x.numpy(), digits.train_y.numpy()
    # member a: 30 images of each class from the first half, b: 10 of each from the second half
    a = np.concatenate([np.flatnonzero(y[:800] == c)[:30] for c in range(10)])
    b = 800 + np.concatenate([np.flatnonzero(y[800:] == c)[:10] for c in range(10)])
    _fake_set(tmp_path / "a.npz", x[a], y[a], regime="balanced", size="n100")
    _fake_set(tmp_path / "b.npz", x[b], y[b], regime="balanced", size="n100")
    _fake_set(tmp_path / "d.npz", x[:0], y[:0], status="diverged", reason="nan")
    assert main(["combine", "--data", str(digits_cache), "--seed", "0", "--out", f"{tmp_path}/c.npz",
                 "--grid", f"{tmp_path}/c.png", f"{tmp_path}/a.npz", f"{tmp_path}/b.npz", f"{tmp_path}/d.npz"]) == 0
    with np.load(tmp_path / "c.npz") as z:
        images, labels, meta = z["images"], z["labels"], json.loads(str(z["meta"]))
    assert (np.bincount(labels, minlength=10) == 20).all()  # the members' mean per class
    # every b image (10 per class) is used: round-robin takes 10 from each, and the other 10 from a
    from_b = {img.tobytes() for img in x[b]}
    assert sum(img.tobytes() in from_b for img in images) == 100
    assert meta["left_out_diverged"] == [f"{tmp_path}/d.npz"] and len(meta["members"]) == 2


def test_a_synthetic_only_classifier_trains_on_no_real_image_and_scores_the_real_test_split(cell, digits_cache,
                                                                                            digits):
    out = cell / "cas"
    assert main(["train_clf", "--data", str(digits_cache), "--subset", f"{cell}/sub.npz", "--classifier", CLF,
                 "--model", "vae", "--synthetic", f"{cell}/syn.npz", "--train-set", "synthetic", "--seed", "0",
                 "--out", f"{out}/metrics.json", "--embeddings", f"{out}/emb.npz"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["train_set"] == "synthetic" and m["n_real"] == 0 and m["n_synthetic"] > 0
    assert m["n_test"] == len(digits.test_y)
    mixed = json.loads((cell / "vae" / "metrics.json").read_text())
    assert mixed["train_set"] == "mixed" and mixed["n_real"] == 120
    with np.load(out / "emb.npz") as z:  # the synthetic images' embeddings, for the probes
        assert z["synthetic_embeddings"].shape == (m["n_synthetic"], 128)
        assert len(z["synthetic_labels"]) == m["n_synthetic"]


def test_every_stage_flag_is_its_functions_parameter_and_holds_no_default_of_its_own():
    """The registry is the whole command line: a flag fills the function's parameter of the same name, every
    parameter without a default has a required flag, and a flag's default is the function's (read from the one
    place the setting lives), except the environment's and the command line's own."""
    import inspect

    from genaug.stage_registry import STAGES, dest

    own_defaults = {"--device", "--snapshot-every", "--mem-mb", "--samples"}
    for stage in STAGES.values():
        params = inspect.signature(stage.function()).parameters
        flags = {dest(o): o for o in stage.options if not o.cli_only}
        assert set(flags) <= set(params), (stage.name, set(flags) - set(params))
        needed = {n for n, p in params.items() if p.default is inspect.Parameter.empty and n != "log"}
        covered = {d for d, o in flags.items()
                   if o.kwargs.get("required") or "default" in o.kwargs or not o.flags[0].startswith("-")}
        assert needed <= covered, (stage.name, needed - covered)
        for o in stage.options:
            assert "default" not in o.kwargs or o.flags[0] in own_defaults, (stage.name, o.flags)


def test_a_left_out_flag_takes_the_config_default_from_the_one_place_it_is_set(digits_cache, tmp_path, monkeypatch):
    from genaug import config as gcfg
    from genaug import stages

    seen = {}
    monkeypatch.setattr(stages, "draw_subset", lambda *a, **k: seen.update(k, params=k["params"]) or
                        (_ for _ in ()).throw(SystemExit(0)))
    with pytest.raises(SystemExit):
        main(["subset", "--data", str(digits_cache), "--regime", "balanced", "--size", "n100", "--seed", "0",
              "--out", str(tmp_path / "s.npz")])
    assert seen["validation_per_class"] == gcfg.config_default("validation_per_class") == 100
    assert seen["params"].minority_classes == gcfg.config_default("regimes.semi_balanced.minority_classes")
    assert seen["params"].imbalance_ratio == gcfg.config_default("regimes.imbalanced.ratio") == 50
    assert gcfg.config_default("synthesis.min_diversity") == gcfg.SYNTHESIS_DEFAULTS["min_diversity"]
    with pytest.raises(KeyError, match="no default"):
        gcfg.config_default("grid.models")


@pytest.mark.parametrize("config", [{}, {"data_dir": "/my images/cats & dogs", "image_size": 32,
                                         "folder": {"channels": 3, "fit": "pad", "test_fraction": 0.25}}])
def test_the_prepare_rule_and_genaug_bench_pass_prepare_the_same_settings(config):
    """The rule's command-line params, parsed by `genaug prepare`'s own parser, give back the settings that
    `genaug bench` passes to the stage directly: one mapping, two callers."""
    import inspect
    import shlex

    from genaug import config as gcfg
    from genaug import stages

    options = gcfg.prepare_options(config)
    argv = ["prepare", "--dataset", "folder", *shlex.split(options["data_dir"]), *shlex.split(options["folder"]),
            "--out", "x.npz"]
    parsed = vars(build_parser("prepare").parse_args(argv))
    stage_defaults = {n: p.default for n, p in inspect.signature(stages.prepare).parameters.items()}
    settings = gcfg.prepare_settings(config)
    seen = {k: str(parsed.get(k, stage_defaults[k])) for k in settings}  # a flag left out: the stage's default
    assert seen == {k: str(v) for k, v in settings.items()}
    assert ("--fit" in options["folder"]) == ("fit" in config.get("folder", {}))  # the default adds no parameter
