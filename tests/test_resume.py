"""Resumable training: a job interrupted after a snapshot and restarted ends exactly where an uninterrupted one does."""

import io

import numpy as np
import pandas as pd
import pytest
import torch

from genaug import stages
from genaug.checkpoint import Snapshots
from .helpers import DISCARD

CLF = {"name": "cnn", "arch": "cnn", "hparams": {"dropout": 0.2},
       "train": {"max_steps": 9, "eval_every": 3, "patience_steps": 9}}


class Crash(Exception):
    """Stands in for a kill: raised right after the n-th snapshot is written."""


@pytest.fixture
def crash_after(monkeypatch):
    def arm(n):
        real_save, calls = Snapshots.save, []

        def save(self, state):
            real_save(self, state)
            calls.append(state["step"])
            if len(calls) == n:
                raise Crash(f"killed after the snapshot at step {state['step']}")

        monkeypatch.setattr(Snapshots, "save", save)
        return calls

    return arm


@pytest.fixture(scope="module")
def sub(digits_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("sub") / "sub.npz"
    stages.subset(data=digits_cache, regime="balanced", size="n150", seed=0, out=out, validation_per_class=10,
                  log=DISCARD)
    return out


def _state(path):
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.heavy
@pytest.mark.parametrize("strategy", [{"per_class": True}, {"label_strategy": "reconstruct"}])
def test_generator_resumes_to_identical_weights(digits_cache, sub, tmp_path, quiet, crash_after, strategy):
    spec = {"name": "vae", "family": "vae", "per_class": False, "label_strategy": None, "hparams": {},
            "train": {"steps": 40, "batch_size": 16, "lr": 1e-3}, **strategy}
    common = dict(data=digits_cache, subset=sub, spec=spec, seed=3, log=quiet)
    stages.train_gen(**common, out=tmp_path / "a.pt", loss_log=tmp_path / "a.csv")

    snap = tmp_path / "snap" / "gen.pt"
    calls = crash_after(3)
    with pytest.raises(Crash):
        stages.train_gen(**common, out=tmp_path / "b.pt", loss_log=tmp_path / "b.csv", snapshot=snap,
                         snapshot_every=7)
    assert calls == [7, 14, 21] and snap.exists() and not (tmp_path / "b.pt").exists()
    stages.train_gen(**common, out=tmp_path / "b.pt", loss_log=tmp_path / "b.csv", snapshot=snap, snapshot_every=7)
    assert calls == [7, 14, 21, 28, 35]  # resumed at step 22, not from the start
    assert not snap.exists()  # removed once the outputs are written
    a, b = _state(tmp_path / "a.pt"), _state(tmp_path / "b.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


@pytest.fixture(scope="module")
def synthetic_set(digits, tmp_path_factory):
    """A stand-in synthetic set: 300 mirrored digits with their labels."""
    import json

    path = tmp_path_factory.mktemp("synthetic") / "s.npz"
    np.savez(path, images=digits.train_x[:300].flip(-1).numpy(), labels=digits.train_y[:300].numpy(),
             meta=np.array(json.dumps({"status": "ok", "model": "vae"})))
    return path


@pytest.mark.heavy
@pytest.mark.parametrize("arm", ["baseline", "classic", "oversampled", "mixed"])
def test_classifier_resumes_to_identical_metrics(digits_cache, sub, synthetic_set, tmp_path, quiet, crash_after, arm):
    """A killed classifier job, rerun, ends with the metrics (and embeddings) of one never killed: baseline,
    classic (its augmentation draws from the RNG), oversampled (class-balanced passes) and mixed (two sources,
    each in its own order)."""
    classic = {"shift": 2, "flip": False, "erase_p": 0.5} if arm == "classic" else None
    extra = {"synthetic": synthetic_set, "train_set": "mixed"} if arm == "mixed" else {}
    extra |= {"oversample": True} if arm == "oversampled" else {}
    common = dict(data=digits_cache, subset=sub, classifier=CLF, model="vae" if arm == "mixed" else arm,
                  classic=classic, seed=1, log=quiet, **extra)
    a = stages.train_clf(**common, out=tmp_path / "a.json", embeddings=tmp_path / "a.npz")

    snap = tmp_path / "snap.pt"
    calls = crash_after(2)  # killed after the snapshot at step 4, between two validations (3 and 6)
    with pytest.raises(Crash):
        stages.train_clf(**common, out=tmp_path / "b.json", embeddings=tmp_path / "b.npz", snapshot=snap,
                         snapshot_every=2)
    assert calls == [2, 4] and not (tmp_path / "b.json").exists()
    b = stages.train_clf(**common, out=tmp_path / "b.json", embeddings=tmp_path / "b.npz", snapshot=snap,
                         snapshot_every=2)
    assert calls == [2, 4, 6, 8] and not snap.exists()

    def comparable(m):
        return {k: v for k, v in m.items() if k != "wall_time_s"} | {
            "history": [{k: v for k, v in h.items() if k != "seconds"} for h in m["history"]]}

    assert comparable(a) == comparable(b)
    with np.load(tmp_path / "a.npz") as za, np.load(tmp_path / "b.npz") as zb:
        assert np.array_equal(za["embeddings"], zb["embeddings"])


def test_snapshot_of_another_configuration_is_set_aside(digits_cache, sub, tmp_path, crash_after):
    spec = {"name": "vae", "family": "vae", "per_class": True, "label_strategy": None, "hparams": {},
            "train": {"steps": 20, "batch_size": 16, "lr": 1e-3}}
    snap = tmp_path / "snap.pt"
    crash_after(1)
    with pytest.raises(Crash):
        stages.train_gen(data=digits_cache, subset=sub, spec=spec, seed=0, out=tmp_path / "m.pt",
                         loss_log=tmp_path / "l.csv", snapshot=snap, snapshot_every=5, log=DISCARD)
    log = tmp_path / "log.txt"
    with open(log, "w") as f:  # another seed is another job: its snapshot must not be resumed
        stages.train_gen(data=digits_cache, subset=sub, spec=spec, seed=1, out=tmp_path / "m.pt",
                         loss_log=tmp_path / "l.csv", snapshot=snap, snapshot_every=50, log=f)
    assert "snapshot of another configuration; training from the start" in log.read_text()
    assert "resuming" not in log.read_text()
    assert (tmp_path / "m.pt").exists() and not snap.exists()


def test_an_unreadable_snapshot_is_set_aside_and_training_starts_over(digits_cache, sub, tmp_path):
    snap = tmp_path / "snap.pt"
    snap.write_bytes(b"\x80\x02 this is not a torch file")
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        stages.train_clf(data=digits_cache, subset=sub, classifier=CLF, model="baseline", seed=0,
                         out=tmp_path / "m.json", embeddings=tmp_path / "e.npz", snapshot=snap, snapshot_every=5, log=f)
    assert "snap.pt: unreadable training snapshot" in log.read_text() and "set aside as" in log.read_text()
    assert (tmp_path / "m.json").exists()
    assert (tmp_path / "snap.pt.corrupt").read_bytes().startswith(b"\x80\x02 this is not")  # kept, not deleted


@pytest.mark.heavy
def test_a_snapshot_with_damaged_weights_is_not_resumed(digits_cache, sub, synthetic_set, tmp_path, quiet,
                                                        crash_after):
    """Flipped bits in a weight load without complaint; the checksum catches them, training starts over and
    ends where a run never interrupted ends."""
    common = dict(data=digits_cache, subset=sub, classifier=CLF, model="baseline", seed=1, log=quiet)
    a = stages.train_clf(**common, out=tmp_path / "a.json", embeddings=tmp_path / "a.npz")
    snap = tmp_path / "snap.pt"
    calls = crash_after(2)
    with pytest.raises(Crash):
        stages.train_clf(**common, out=tmp_path / "b.json", embeddings=tmp_path / "b.npz", snapshot=snap,
                         snapshot_every=2)
    state = torch.load(snap, weights_only=True)
    weights = next(v for v in state["objects"]["model"].values() if v.is_floating_point() and v.numel() > 100)
    weights.view(-1)[:50] = -weights.view(-1)[:50]  # the damage; the stored checksum stays as written
    torch.save(state, snap)
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        b = stages.train_clf(**{**common, "log": f}, out=tmp_path / "b.json", embeddings=tmp_path / "b.npz",
                             snapshot=snap, snapshot_every=2)
    assert "do not match the checksum" in log.read_text() and "resuming" not in log.read_text()
    assert calls[:3] == [2, 4, 2]  # started over
    assert a["accuracy"] == b["accuracy"] and a["best_step"] == b["best_step"]


def test_train_loop_snapshots_and_restores_extra_state_such_as_an_ema(tmp_path, quiet, crash_after):
    from genaug.generators.base import EMA, train_loop

    def run(snapshots):
        torch.manual_seed(0)
        w = torch.zeros(5, requires_grad=True)
        ema = EMA([w], decay=0.9)
        gen = torch.Generator().manual_seed(1)

        def step_loss(step, phase):
            ema.update()
            target = torch.randn(5, generator=gen) + torch.randn(5)  # the batch RNG and the global one
            return ((w - target) ** 2).sum(), {}

        train_loop({"w": w}, step_loss, steps=30, lr=0.1, name="toy", rngs=(gen,), extra_state={"ema": ema},
                   snapshots=snapshots, log=quiet)
        return w.detach(), ema.shadow[0]

    w_a, ema_a = run(None)
    snaps = Snapshots(tmp_path / "s.pt", every=4, job="toy", log=quiet)
    crash_after(3)
    with pytest.raises(Crash):
        run(snaps)
    w_b, ema_b = run(snaps)
    assert torch.equal(w_a, w_b) and torch.equal(ema_a, ema_b) and not torch.equal(ema_a, w_a)


def test_a_snapshot_of_another_layout_is_not_resumed(tmp_path, crash_after):
    """A snapshot left by another genaug version (another layout) starts training over instead of failing."""
    from genaug.checkpoint import SNAPSHOT_FORMAT, Resume
    from genaug.io import load_torch, save_torch

    log = io.StringIO()
    snaps = Snapshots(tmp_path / "s.pt", every=2, job="toy", log=log)
    w = torch.nn.Linear(2, 2)
    Resume(snaps, {"w": w}).save_if_due(2)
    assert Resume(snaps, {"w": w}).step == 2  # the same layout resumes
    state = load_torch(tmp_path / "s.pt")
    assert state["format"] == SNAPSHOT_FORMAT
    save_torch(tmp_path / "s.pt", {**state, "format": SNAPSHOT_FORMAT - 1})  # intact, of an older layout
    fresh = Resume(snaps, {"w": w})
    assert fresh.step == 0 and "another genaug version" in log.getvalue()
