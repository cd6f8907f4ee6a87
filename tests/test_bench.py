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
