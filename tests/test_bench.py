"""`genaug bench`'s file: sections carry their own stamp, and a rerun of some sections keeps the others."""

import json

import pytest

from genaug import bench
from genaug.errors import GenaugError
from .helpers import DISCARD


@pytest.mark.e2e
def test_a_rerun_keeps_other_sections_and_checks_only_model_rows(tmp_path):
    out = tmp_path / "bench.json"
    row = {"train_images_per_s": 10.0, "outside_forward_backward": 0.05, "loop_overhead": 0.2}
    out.write_text(json.dumps({
        "machine": {"device": "old"},  # the former file-wide stamp
        "generators": {"measured_at": "t0", "machine": {"device": "cpu"}, "dataset": "digits", "vae": row},
        "gans": {"measured_at": "t1", "machine": {"device": "cuda"}},
    }))
    report = bench.run(out=str(out), skip=["generators", "gans", "classifier", "dry_run"], log=DISCARD)
    saved = json.loads(out.read_text())
    assert saved == report and "machine" not in saved
    assert saved["generators"]["machine"] == {"device": "cpu"} and saved["gans"]["machine"] == {"device": "cuda"}
    assert saved["checks"]["outside_forward_backward_within_10_percent"] == {"generator:vae": True}
    assert saved["checks"]["outside_forward_backward_optimizer_within_10_percent"] == {"generator:vae": False}


@pytest.mark.e2e
def test_gen_steps_caps_the_timed_training_and_the_row_says_so(tmp_path):
    out = tmp_path / "bench.json"
    report = bench.run(out=str(out), dataset="digits", size="n500", skip=["gans", "classifier", "dry_run"],
                       models=["cdcgan"], gen_steps=3, log=DISCARD)
    row = report["generators"]["cdcgan"]
    assert row["steps"] == 3 and row["quick_preset_steps"] == 2000
    assert row["train_images_per_s"] > 0 and row["sample_images"] == 10 * 1000
    assert "d_loss_first_interval" in row and row["machine"]["device"] == "cpu" and "measured_at" in row


@pytest.mark.e2e
def test_a_users_configfile_benches_their_own_folder_dataset(tmp_path, capsys):
    """`genaug bench --configfile mine.yaml` times the generators on the user's images, read as their grid reads
    them, at their grid's size; a size their folder cannot fill is one error naming --size."""
    import yaml

    from .helpers import make_folder

    make_folder(tmp_path / "imgs", mode="RGB", per_class=20)
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"dataset": "folder", "data_dir": str(tmp_path / "imgs"), "image_size": 16,
                                    "folder": {"fit": "crop"}, "validation_per_class": 4, "grid": {"sizes": [30]}}))
    report = bench.run(out=str(tmp_path / "bench.json"), skip=["gans", "classifier", "dry_run"], models=["cvae"],
                       gen_steps=3, configfile=str(mine), log=DISCARD)
    assert report["generators"]["dataset"] == "folder" and report["generators"]["subset"] == "balanced/n30/s0"
    assert report["generators"]["cvae"]["train_images_per_s"] > 0
    from genaug.cli import main

    rc = main(["bench", "--out", str(tmp_path / "bench.json"), "--size", "n300", "--skip", "gans", "classifier",
               "dry_run", "--models", "cvae", "--gen-steps", "3", "--configfile", str(mine)])
    err = capsys.readouterr().err
    assert rc == 2 and "genaug bench: error: regime 'balanced' at size n300" in err and "smaller --size" in err, err


@pytest.mark.e2e
def test_the_classifier_section_times_every_training_precision(tmp_path):
    out = tmp_path / "bench.json"
    report = bench.run(out=str(out), dataset="digits", size="n200", skip=["generators", "gans", "dry_run"],
                       log=DISCARD)
    row = report["classifier"]
    assert row["train_images"] == 200 and row["train_images_per_s"] > 0
    bf16 = row["precisions"]["bf16"]
    assert bf16["speedup"] == pytest.approx(bf16["train_images_per_s"] / row["train_images_per_s"], rel=1e-2)
    assert "classifier" in report["checks"]["outside_forward_backward_within_10_percent"]


@pytest.mark.e2e
def test_the_dry_run_grid_has_two_generators_whether_or_not_config_lists_them():
    import yaml

    shipped = yaml.safe_load((bench.REPO / "config.yaml").read_text())
    for config in (shipped, {**shipped, "models": {"vae": {"family": "vae", "per_class": True}}}):
        grid = bench.big_grid_config(config)["grid"]
        assert grid["models"] == ["baseline", "classic", "vae", "vae_recon"]
        assert len(grid["regimes"]) == 5 and len(grid["sizes"]) == 10


def test_the_convergence_table_compares_each_rule_with_the_one_of_twice_its_patience(tmp_path):
    import pandas as pd

    rows = []
    for model, (a100, a200, a400) in {"baseline": (0.80, 0.80, 0.80), "classic": (0.78, 0.79, 0.792)}.items():
        for seed, noise in ((0, 0.0), (1, 0.002)):
            rows.append({"dataset": "digits", "classifier": "cnn", "train_set": "real", "model": model,
                         "filter": "none", "regime": "balanced", "size": "n100", "size_value": 100, "seed": seed,
                         "status": "ok", "accuracy": a400 + noise, "accuracy_check_p100_c900": a100 + noise,
                         "accuracy_check_p200_c900": a200 + noise, "patience_steps": 400, "max_steps": 900,
                         "steps_run": 700 + seed, "stopped_at_check_p100_c900": 300, "stopped_at_check_p200_c900": 500})
    (tmp_path / "results" / "digits").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(tmp_path / "results" / "digits" / "summary.csv", index=False)
    out = bench.bench_convergence(tmp_path, DISCARD)
    assert out["largest_change_of_a_mean"] == {"100->200": 0.01, "200->400": 0.002}
    assert out["converged"] == {"100->200": False, "200->400": True}
    assert out["arms_with_fewer_than_3_seeds"] == 2
    classic = next(r for r in out["arms"] if r["model"] == "classic")
    assert classic["patience_100"] == 0.781 and classic["change_200->400"] == 0.002 and classic["seeds"] == 2
    assert classic["mean_steps_patience_100"] == 300 and classic["mean_steps_patience_400"] == 700


def test_the_convergence_table_refuses_a_grid_without_checks(tmp_path):
    import pandas as pd

    (tmp_path / "results" / "digits").mkdir(parents=True)
    pd.DataFrame([{"classifier": "cnn", "status": "ok", "accuracy": 0.8, "patience_steps": 400}]).to_csv(
        tmp_path / "results" / "digits" / "summary.csv", index=False)
    with pytest.raises(GenaugError, match="convergence_checks"):
        bench.bench_convergence(tmp_path, DISCARD)


@pytest.mark.e2e
def test_the_competence_table_scores_each_generator_against_the_bar(evaluation_grid):
    """From a grid with synthetic-only classifiers and gen_metrics: seconds, CAS over the baseline's accuracy
    and domain FD over the floor, per generator and seed; `combined` (no training of its own) is left out."""
    import pandas as pd

    out = bench.bench_competence(evaluation_grid, DISCARD)
    assert out["bar"]["cas_ratio_min"] == bench.CAS_RATIO and out["floor_domain_fd"] > 0
    floor = json.loads(next(evaluation_grid.glob("results/*/reference/floor.json")).read_text())
    assert out["per_class_count"] == floor["per_class_count"] and out["floor_draws"] == floor["draws"] >= 1
    assert set(out["generators"]) == {"vae"}
    rows = out["generators"]["vae"]
    summary = pd.read_csv(next(evaluation_grid.glob("results/*/summary.csv"))).set_index(["model", "train_set", "seed"])
    assert sorted(r["cell"] for r in rows) == ["balanced/n100/s0", "balanced/n100/s1"]
    for row in rows:
        seed = int(row["cell"].rsplit("/s", 1)[1])
        assert row["cas"] == pytest.approx(summary.loc[("vae", "synthetic", seed), "accuracy"])
        base = summary.loc[("baseline", "real", seed), "accuracy"]
        assert row["cas_ratio"] == pytest.approx(row["cas"] / base, abs=1e-4)
        assert row["fd_floor_ratio"] == pytest.approx(row["domain_fd"] / out["floor_domain_fd"], abs=0.01)
        assert row["seconds"] == pytest.approx(row["train_seconds"] + row["sample_seconds"], abs=0.2)
        assert row["seconds"] > 0 and isinstance(row["hparams"], dict) and row["sampling"] is None
        assert row["budget_seconds"] is None and not row["within_budget"] and not row["competent"]


def test_the_competence_table_refuses_a_grid_without_synthetic_only_classifiers(tmp_path):
    with pytest.raises(GenaugError, match="competence.yaml"):
        bench.bench_competence(tmp_path, DISCARD)


def test_the_sampler_table_refuses_fewer_than_one_draw_and_a_grid_without_sampler_sets(tmp_path):
    with pytest.raises(GenaugError, match="--sampler-draws must be at least 1"):
        bench.bench_samplers(tmp_path, "cpu", DISCARD, draws=0)
    with pytest.raises(GenaugError, match="samplers.yaml"):
        bench.bench_samplers(tmp_path, "cpu", DISCARD, draws=2)


def test_a_sampler_of_every_timestep_gets_no_spacing_variants_and_is_a_reference_for_every_row():
    ode = {"sampler": "dpm", "steps": 20, "eta": 0.0, "spacing": "lu"}
    assert bench.spacing_variants(ode, 1000) == ("karras", "linspace")
    assert bench.spacing_variants({**ode, "sampler": "ddim", "steps": 50}, 1000) == ("leading",)
    assert bench.spacing_variants({**ode, "sampler": "ddim", "steps": 50, "eta": 1.0}, 1000) == ("linspace",)
    # at every timestep, every spacing visits the same ones
    assert bench.spacing_variants({**ode, "sampler": "ddim", "steps": 1000}, 1000) == ()
    assert bench.spacing_variants({**ode, "steps": 20}, 20) == ()

    def row(sampler, steps, fd, seed):
        return {"sampling": {"sampler": sampler, "steps": steps, "eta": 0.0}, "fd": fd, "timesteps": 1000,
                "seed": seed}

    rows = {"m@dpm20": [row("dpm", 20, 6.0, 0), row("dpm", 20, 8.0, 1)],
            "m@ddim1000": [row("ddim", 1000, 5.0, 0), row("ddim", 1000, 5.0, 1)],
            "m@ddpm1000": [row("ddpm", 1000, 3.0, 0), row("ddpm", 1000, 5.0, 1)],
            "m@ddpm100": [row("ddpm", 100, 4.0, 0), row("ddpm", 100, 4.0, 1)]}
    table = bench._sampler_table({"cell": "balanced/n1000"}, rows)
    assert table["m@dpm20"]["fd"] == 7.0 and len(table["m@dpm20"]["per_seed"]) == 2
    assert table["m@dpm20"]["fd_vs_m@ddpm1000"] == 1.75 and table["m@dpm20"]["fd_vs_m@ddim1000"] == 1.4
    assert table["m@ddim1000"]["fd_vs_m@ddim1000"] == 1.0 and table["m@ddpm1000"]["fd_vs_m@ddim1000"] == 0.8
    # a ddpm token of fewer steps than the schedule is not a reference
    assert not any(k.endswith("m@ddpm100") for row in table.values() if isinstance(row, dict) for k in row)


def test_levers_time_each_generator_step_beside_fp32(digits_cache, tmp_path):
    import torch
    import yaml

    from genaug import stages

    sub = tmp_path / "sub.npz"
    stages.subset(data=digits_cache, regime="balanced", size="n100", seed=0, out=sub, log=DISCARD,
                  validation_per_class=10)
    config = yaml.safe_load((bench.REPO / "config.yaml").read_text())
    out = bench.bench_levers(config, digits_cache, sub, torch.device("cpu"), DISCARD,
                             models=("cvae",), steps=2, warmup=1,
                             levers=("bf16", "channels_last", "threads2"))  # compile: a minute of compiling
    row = out["cvae"]
    assert set(row) >= {"fp32", "bf16", "channels_last", "threads2"} and row["fp32"]["speedup"] == 1.0
    for lever in ("bf16", "channels_last", "threads2"):
        assert row[lever]["step_seconds"] > 0 and row[lever]["last_loss"]["loss"] > 0
