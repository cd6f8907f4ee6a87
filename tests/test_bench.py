"""`genaug bench`'s file: sections carry their own stamp, and a rerun of some sections keeps the others."""

import json

from genaug import bench


def test_a_rerun_keeps_other_sections_and_checks_only_model_rows(tmp_path):
    out = tmp_path / "bench.json"
    row = {"train_images_per_s": 10.0, "outside_forward_backward": 0.05, "loop_overhead": 0.2}
    out.write_text(json.dumps({
        "machine": {"device": "old"},  # the former file-wide stamp
        "generators": {"measured_at": "t0", "machine": {"device": "cpu"}, "dataset": "digits", "vae": row},
        "gans": {"measured_at": "t1", "machine": {"device": "cuda"}},
    }))
    report = bench.run(out=str(out), skip=["generators", "gans", "classifier", "dry_run"], log=open("/dev/null", "w"))
    saved = json.loads(out.read_text())
    assert saved == report and "machine" not in saved
    assert saved["generators"]["machine"] == {"device": "cpu"} and saved["gans"]["machine"] == {"device": "cuda"}
    assert saved["checks"]["outside_forward_backward_within_10_percent"] == {"generator:vae": True}
    assert saved["checks"]["outside_forward_backward_optimizer_within_10_percent"] == {"generator:vae": False}


def test_gen_steps_caps_the_timed_training_and_the_row_says_so(tmp_path):
    out = tmp_path / "bench.json"
    report = bench.run(out=str(out), dataset="digits", size="n500", skip=["gans", "classifier", "dry_run"],
                       models=["cdcgan"], gen_steps=3, log=open("/dev/null", "w"))
    row = report["generators"]["cdcgan"]
    assert row["steps"] == 3 and row["quick_preset_steps"] == 2000
    assert row["train_images_per_s"] > 0 and row["sample_images"] == 10 * 1000
    assert "d_loss_first_interval" in row and row["machine"]["device"] == "cpu" and "measured_at" in row


def test_the_dry_run_grid_has_two_generators_whether_or_not_config_lists_them():
    import yaml

    shipped = yaml.safe_load((bench.REPO / "config.yaml").read_text())
    for config in (shipped, {**shipped, "models": {"vae": {"family": "vae", "per_class": True}}}):
        grid = bench.big_grid_config(config)["grid"]
        assert grid["models"] == ["baseline", "classic", "vae", "vae_recon"]
        assert len(grid["regimes"]) == 5 and len(grid["sizes"]) == 10
