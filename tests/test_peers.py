"""`genaug bench --peers`: our generators against denoising-diffusion-pytorch and pythae, on a real grid's cell.

The race itself is a benchmark (minutes per budget); here it runs at budgets of seconds to check that both
sides train on the same cell, that snapshots are taken at the budgets and scored alike, and that the ratios
follow from the curves. The reference implementations come with the `bench` extra, which CI installs.
"""

from __future__ import annotations

import copy
import math

import pytest

from genaug.config import PRESETS
from genaug.errors import GenaugError

from .helpers import DISCARD, EVAL

pytest.importorskip("denoising_diffusion_pytorch")
pytest.importorskip("pythae")

from genaug import peers  # noqa: E402


@pytest.mark.e2e
def test_both_races_run_on_a_grid_cell_and_their_ratios_follow_from_the_curves(evaluation_grid, tmp_path):
    config = copy.deepcopy(EVAL)
    # both sides sample in 4 steps (the peer's DDIM takes as many as our sampler): the test's cost
    config["models"] = {**config["models"], "cddpm": {**PRESETS["cddpm_cfg"], "sampling": {
        "sampler": "dpm", "steps": 4, "eta": 1.0, "guidance": 2.0}}}
    figure = tmp_path / "peers.png"
    out = peers.bench_peers(evaluation_grid, config, DISCARD, budgets=(2, 4), vae_epochs=4,
                            size="n100", figure=figure, shipped_peer_epochs=6)
    assert out["subset"] == "balanced/n100/s0" and figure.stat().st_size > 10_000
    d = out["diffusion"]
    assert d["per_class_count"] == EVAL["gen_metrics"]["per_class"]
    assert d["peer"]["sampling"] == {"sampler": "ddim", "steps": 4, "eta": 1.0, "guidance": 2.0}
    for side in ("ours", "peer"):
        rows = d["curves"][side]
        assert [r["budget_s"] for r in rows] == [2, 4]
        assert all(r["seconds"] >= r["budget_s"] for r in rows) and 0 < rows[0]["steps"] < rows[1]["steps"]
        for r in rows:  # every snapshot was sampled and scored at the fixed count, against the same floor
            assert r["domain_fd"] > 0 and math.isfinite(r["domain_fd"]) and 0 <= r["cas"] <= 1
            assert r["floor_domain_fd"] == rows[0]["floor_domain_fd"] and r["sample_seconds"] > 0
    assert d["peer_fd_at_largest_budget"] == d["curves"]["peer"][-1]["domain_fd"]
    reached = [r["budget_s"] for r in d["curves"]["ours"] if r["domain_fd"] <= d["peer_fd_at_largest_budget"]]
    assert d["ours_first_budget_reaching_it_s"] == (min(reached) if reached else None)

    v = out["vae"]
    for side in ("ours", "peer"):
        rows = v["curves"][side]
        assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
        assert all(a["seconds"] < b["seconds"] for a, b in zip(rows, rows[1:]))
        assert rows[-1]["val_loss"] < rows[0]["val_loss"]  # both sides learn from the same images
    # the same network and initial weights: after one epoch of the same data, the losses are alike
    assert v["curves"]["ours"][0]["val_loss"] == pytest.approx(v["curves"]["peer"][0]["val_loss"], rel=0.25)
    if v["ours_seconds_to_peer_final"] is not None:
        assert v["ratio"] == pytest.approx(v["ours_seconds_to_peer_final"] / v["peer_seconds"], abs=1e-3)
    # each as shipped: the peer with pythae's own trainer lr (read from pythae), for the epochs asked
    shipped = out["vae_shipped"]
    assert shipped["peer_settings"] == {"epochs": 6, "batch_size": 64, "lr": peers.pythae_defaults()["lr"]}
    assert [r["epoch"] for r in shipped["curves"]["peer"]] == list(range(1, 7))
    assert [r["epoch"] for r in shipped["curves"]["ours"]] == [1, 2, 3, 4] and shipped["lr"] == v["lr"]


def test_a_workdir_without_the_cell_is_refused_with_the_grid_to_run(tmp_path):
    with pytest.raises(GenaugError, match="evidence.yaml"):
        peers.bench_peers(tmp_path, copy.deepcopy(EVAL), DISCARD, size="n100")


def test_missing_reference_implementations_name_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pythae", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(GenaugError, match=r"pythae is missing.*\.\[bench\]"):
        peers._require_peers()


@pytest.mark.e2e
def test_rerunning_one_race_keeps_the_others_earlier_result_and_stamp(evaluation_grid, tmp_path):
    """`genaug bench --peers W --peer-races vae`: the VAE races run again (the second with pythae's own trainer
    settings), the diffusion race's earlier result stays in bench.json with its own stamp."""
    import json

    from genaug import bench

    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"peers": {"measured_at": "earlier", "machine": "m", "diffusion": {"ratio": 0.25}}}))
    bench.run(out=str(out), size="n100", skip=("generators", "gans", "classifier", "dry_run"), peers=evaluation_grid,
              peer_races=["vae"], peer_vae_epochs=3, log=DISCARD)
    section = json.loads(out.read_text())["peers"]
    assert section["diffusion"] == {"measured_at": "earlier", "machine": "m", "ratio": 0.25}
    assert section["measured_at"] != "earlier" and section["vae"]["epochs"] == 3
    assert section["vae_shipped"]["peer_settings"] == {"epochs": peers.pythae_defaults()["epochs"],
                                                        "batch_size": 64, "lr": peers.pythae_defaults()["lr"]}
    assert (tmp_path / "bench_peers.png").stat().st_size > 10_000
