"""scripts/fd_reference_augmented.py: a grid's metric sets and the FD yardsticks, scored under the reference and
under a second one trained with shifts and flips."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from genaug import gen_metrics as gm
from genaug.yardsticks import YARDSTICKS

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fd_reference_augmented.py"


def _set(path: Path, images, labels):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=images, labels=labels, meta=np.array(json.dumps({"status": "ok"})))


@pytest.mark.heavy
def test_every_set_and_yardstick_is_scored_under_both_networks(digits_cache, digits, tmp_path, quiet, capsys,
                                                               monkeypatch):
    # Both networks train the passes asked (2, 38 steps), not the step floor's 6: the test reads the plumbing.
    monkeypatch.setattr("genaug.metrics.REFERENCE_MIN_STEPS", 0)
    spec = importlib.util.spec_from_file_location("fd_reference_augmented", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    res = tmp_path / "results"
    (res / "reference").mkdir(parents=True)
    shutil.copy(digits_cache, res / "dataset.npz")
    gm.reference(data=res / "dataset.npz", out_model=res / "reference/classifier.pt",
                 out_features=res / "reference/features.npz", out_floor=res / "reference/floor.json",
                 validation_per_class=10, epochs=2, per_class=10, device="cpu", log=quiet)
    x, y = digits.train_x.numpy(), digits.train_y.numpy()
    pick = np.concatenate([np.flatnonzero(y == c)[:12] for c in range(10)])
    _set(res / "metric_sets/real/balanced/n100/s0.npz", x[pick], y[pick])
    noise = np.random.default_rng(0).integers(0, 256, size=(len(pick), *x.shape[1:]), dtype=np.uint8)
    _set(res / "metric_sets/noise/balanced/n100/s0.npz", noise, y[pick])
    _set(res / "metric_sets/short/balanced/n100/s0.npz", x[pick][:30], y[pick][:30])  # under 10 a class: skipped
    assert script.main([str(res), "--out", str(tmp_path / "out.json"), "--epochs", "2",
                        "--validation-per-class", "10"]) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["per_class_count"] == 10 and out["augmented_test_accuracy"] > 0.5
    floor = json.loads((res / "reference/floor.json").read_text())
    assert out["plain"]["floor"] == pytest.approx(floor["domain_fd"])  # the stage's own floor, recomputed
    for net in ("plain", "augmented"):
        scores = out[net]
        assert set(scores["yardsticks"]) == set(YARDSTICKS)
        assert set(scores["sets"]) == {"real/balanced/n100/s0.npz", "noise/balanced/n100/s0.npz"}
        assert scores["sets"]["real/balanced/n100/s0.npz"] < scores["sets"]["noise/balanced/n100/s0.npz"] / 5
    assert out["plain"]["yardsticks"] == pytest.approx({k: v["ratio"] for k, v in floor["yardsticks"].items()})
    printed = capsys.readouterr().out
    assert "noise/balanced/n100/s0.npz" in printed and "real images shifted by up to 1 pixel" in printed
