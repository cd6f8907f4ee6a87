"""The memory estimate before a training job's first step: measured, extrapolated, refused with the setting named,
and invisible in the results (the probe steps a copy)."""

import io
import json
import subprocess

import pytest
import torch

from genaug import memory
from genaug.classifiers import TrainConfig, build_classifier, fit_classifier
from genaug.data import to_float
from genaug.errors import GenaugError
from genaug.generators import build, train

from .helpers import BIN

MIB_FLOATS = 2**20 // 4


def _allocating_step(mib_per_image: float):
    """A fake training step whose peak grows by `mib_per_image` MiB per image, as activations do."""
    calls = []

    def run_step(b):
        calls.append(b)
        held = torch.ones(int(b * mib_per_image * MIB_FLOATS))
        held.add_(1)  # touch every page, so it is resident
    return run_step, calls


@pytest.fixture
def limited(monkeypatch):
    """A guarded job's limit, without the watcher thread (which would end the test process)."""
    def set_limit(limit_mb):
        monkeypatch.setattr(memory, "_LIMIT", {"limit_mb": limit_mb, "setting": "models.big.batch_size = 4000",
                                               "rule": "train_gen"})
    return set_limit


def test_a_small_batch_is_measured_and_a_large_one_extrapolated_from_two_probes():
    run_step, calls = _allocating_step(1.0)
    direct = memory.estimate_mb(run_step, 100)
    assert direct["measured_at"] == [100] and 90 <= direct["step_mb"] <= 110
    calls.clear()
    far = memory.estimate_mb(run_step, 3000)
    assert calls == [2, *memory.PROBE_BATCHES]  # the warm-up, then the two probes; never the 3,000
    assert 0.9 <= far["per_image_mb"] <= 1.1 and 2700 <= far["step_mb"] <= 3300


def test_a_step_that_would_pass_the_rules_memory_is_refused_before_training_naming_the_setting(limited):
    limited(memory.resident_mb() + 400)
    run_step, _ = _allocating_step(1.0)
    with pytest.raises(GenaugError) as err:
        memory.check_step(run_step, 4000, params=[torch.zeros(10)], state_copies=2, device="cpu", what="big",
                          log=io.StringIO())
    message = str(err.value)
    assert message.startswith("models.big.batch_size = 4000: a training step at batch 4000 needs about ")
    assert "extrapolated from batches 32 and 128" in message and "refused before training" in message
    assert "snakemake --set-resources train_gen:mem_mb=N" in message
    log = io.StringIO()
    fits = memory.check_step(run_step, 50, params=[torch.zeros(2**20)], state_copies=2, device="cpu", what="small",
                             log=log)
    assert abs(fits["state_mb"] - 8.0) < 1e-9 and fits["total_mb"] < memory.limit()["limit_mb"]
    assert log.getvalue().startswith("small: memory: about ") and "at batch 50" in log.getvalue()


def test_unguarded_and_gpu_jobs_are_not_probed(limited):
    run_step, calls = _allocating_step(1.0)
    assert memory.limit() is None
    assert memory.check_step(run_step, 10, params=[], state_copies=2, device="cpu", what="x") is None
    limited(10**6)
    assert memory.check_step(run_step, 10, params=[], state_copies=2, device="cuda", what="x") is None
    assert calls == []


def _generator_run(digits, name, per_class):
    torch.manual_seed(0)
    model = build({"name": name, "family": name, "per_class": per_class, "hparams": {}}, (1, 28, 28), 10)
    log = io.StringIO()
    history = train(model, to_float(digits.train_x[:200]), digits.train_y[:200],
                    {"steps": 3, "batch_size": 130, "lr": 1e-3}, seed=3, log=log)
    return model.state_dict(), history, log.getvalue()


@pytest.mark.parametrize("name,per_class", [("cgan", False), ("vae", True),
                                            pytest.param("cddpm", False, marks=pytest.mark.heavy)])
def test_the_probe_changes_no_generators_result(digits, limited, name, per_class):
    """Batch norm statistics, dropout and noise draws of the probe land on a copy (or cloned buffers) and a forked
    random stream: a guarded run trains exactly the weights an unguarded one does."""
    plain = _generator_run(digits, name, per_class)
    limited(10**6)
    probed = _generator_run(digits, name, per_class)
    assert "memory: about" in probed[2] and "extrapolated from batches 32 and 128" in probed[2]
    assert "memory:" not in plain[2]
    assert plain[1] == probed[1]
    assert plain[0].keys() == probed[0].keys()
    for key, value in plain[0].items():
        assert torch.equal(value, probed[0][key]), key


def test_the_probe_changes_no_classifiers_result(digits, limited):
    def run():
        torch.manual_seed(0)
        net = build_classifier("cnn", (1, 28, 28), 10)
        result = fit_classifier(net, digits.train_x[:200], digits.train_y[:200], digits.train_x[300:400],
                                digits.train_y[300:400], TrainConfig(max_steps=12, eval_every=4, patience_steps=12),
                                seed=1, log=io.StringIO())
        return net.state_dict(), result.history
    plain = run()
    limited(10**6)
    probed = run()
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in plain[1]] == \
        [{k: v for k, v in h.items() if k != "seconds"} for h in probed[1]]
    for key, value in plain[0].items():
        assert torch.equal(value, probed[0][key]), key


def test_train_clf_with_a_batch_no_memory_holds_is_refused_in_seconds_and_writes_nothing(digits_cache, tmp_path):
    from genaug.cli import main

    sub = tmp_path / "sub.npz"
    assert main(["subset", "--data", str(digits_cache), "--regime", "balanced", "--size", "n100", "--seed", "0",
                 "--validation-per-class", "10", "--out", str(sub)]) == 0
    clf = json.dumps({"name": "cnn", "arch": "cnn", "hparams": {},
                      "train": {"max_steps": 20, "eval_every": 5, "patience_steps": 10, "batch_size": 50000}})
    out = tmp_path / "out"
    r = subprocess.run([str(BIN / "genaug"), "train_clf", "--data", str(digits_cache), "--subset", str(sub),
                        "--classifier", clf, "--model", "baseline", "--seed", "0", "--mem-mb", "3000",
                        "--out", str(out / "metrics.json"), "--embeddings", str(out / "emb.npz")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert ("genaug train_clf: error: classifiers.cnn.batch_size = 50000: a training step at batch 50000 needs "
            "about ") in r.stderr
    assert "more than the 3000 MB its rule asks for" in r.stderr
    assert "step 1/" not in r.stderr and not (out / "metrics.json").exists() and not (out / "emb.npz").exists()
