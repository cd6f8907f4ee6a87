"""Crash safety: SIGKILL the whole Snakemake process group at several points of a tiny grid, rerun with
--rerun-incomplete, and end with the summary.csv an uninterrupted run writes (determinism included)."""

import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from .helpers import BIN, REPO, TINY, snakemake

pytestmark = pytest.mark.e2e  # every test here runs Snakemake

# Long enough training that snapshots are written mid-job: 100 generator steps, 16 classifier steps.
CONFIG = {
    **TINY, "seeds": [0], "snapshot_every": 5,
    "grid": {**TINY["grid"], "regimes": ["semi_balanced"], "sizes": [200]},
    "classifiers": {"cnn": {"arch": "cnn", "max_steps": 16, "eval_every": 4, "patience_steps": 16}},
    "models": {"vae": {**TINY["models"]["vae"], "steps": 10_000}},
}
RES = "results/digits"
# Kill points, in the order a run reaches them: (name, files whose appearance or rewrite triggers the kill,
# an output whose existence means the run is already past this point).
KILL_POINTS = [
    ("dataset cache written", f"{RES}/dataset.npz", f"{RES}/dataset.npz"),
    ("generator mid-training", f"{RES}/snapshots/train_gen/**/*.pt",
     f"{RES}/generators/vae/semi_balanced/n200/s0/model.pt"),
    ("classifier mid-training", f"{RES}/snapshots/train_clf/**/*.pt", f"{RES}/summary.csv"),
    ("a cell finished", f"{RES}/classifiers/**/metrics.json", f"{RES}/summary.csv"),
]


def _stamps(workdir, pattern) -> dict:
    """Modification times of the files matching `pattern`: complete files only (not a write's hidden temp file)."""
    out = {}
    for p in workdir.glob(pattern):
        if p.name.startswith("."):
            continue
        try:
            if p.is_file():
                out[p] = p.stat().st_mtime_ns
        except FileNotFoundError:
            pass
    return out


def run_and_kill(workdir, pattern: str, timeout: float = 300) -> bool:
    """Start snakemake in its own process group; SIGKILL the group as soon as a file matching `pattern`
    appears or is rewritten during this run. Returns False when the run finished first."""
    before = _stamps(workdir, pattern)
    proc = subprocess.Popen(
        [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2",
         "--rerun-incomplete", "--workflow-profile", "none"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.time() + timeout
    try:
        while proc.poll() is None:
            now = _stamps(workdir, pattern)
            if any(before.get(p) != t for p, t in now.items()):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            assert time.time() < deadline, f"timed out waiting for {pattern}"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return False


def _logs(workdir) -> str:
    return "\n".join(p.read_text() for p in (workdir / RES / "logs").rglob("*.log"))


def comparable(summary) -> pd.DataFrame:
    return pd.read_csv(summary).drop(columns=["wall_time_s"])


@pytest.fixture
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("clean")
    r = snakemake(workdir, "--cores", "2", config=CONFIG)
    assert r.returncode == 0, r.stderr[-3000:]
    return workdir


def test_sigkill_at_several_points_then_rerun_matches_an_uninterrupted_run(uninterrupted, tmp_path):
    """Also the determinism check: two runs of one config and seed give identical subsets and CPU metrics."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    killed, logs = [], []
    for name, pattern, past in KILL_POINTS:
        if (tmp_path / past).exists():
            continue  # an earlier run got past this point already
        if run_and_kill(tmp_path, pattern):
            killed.append(name)
        logs.append(_logs(tmp_path))
        assert snakemake(tmp_path, "--unlock").returncode == 0
        # Nothing half-written: every file Snakemake would trust parses.
        for npz in (tmp_path / RES).rglob("*.npz"):
            np.load(npz).files
    assert len(killed) >= 3, killed

    r = snakemake(tmp_path, "--cores", "2", "--rerun-incomplete")
    assert r.returncode == 0, r.stderr[-3000:]
    assert any("resuming from the snapshot" in text for text in [*logs, _logs(tmp_path)])
    pd.testing.assert_frame_equal(comparable(tmp_path / RES / "summary.csv"),
                                  comparable(uninterrupted / RES / "summary.csv"))
    assert not any((tmp_path / RES / "snapshots").rglob("*.pt"))  # every snapshot cleared after its job
    assert not list((tmp_path / "results").rglob(".*.tmp*"))  # no temp file of a killed write left behind
    for sub in (uninterrupted / RES / "subsets").rglob("*.npz"):
        with np.load(sub) as a, np.load(tmp_path / sub.relative_to(uninterrupted)) as b:
            assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)


def _jobs_in(workdir) -> list[int]:
    """Pids of genaug jobs running in `workdir` (their cwd), found in /proc."""
    out = []
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            cmd = open(f"/proc/{proc}/cmdline", "rb").read().split(b"\0")
            if os.readlink(f"/proc/{proc}/cwd") == str(workdir) and any(a.endswith(b"genaug") for a in cmd[:2]):
                out.append(int(proc))
        except OSError:
            pass
    return out


@pytest.mark.slow
def test_twenty_kills_of_snakemake_alone_then_the_documented_recovery_match_an_uninterrupted_run(
        uninterrupted, tmp_path):
    """kill -9 of snakemake alone (not its jobs) at 20 random moments: each orphaned job stops itself
    (genaug.process), `snakemake --unlock; snakemake --rerun-incomplete` starts no second copy of a cell, and
    the final summary is the uninterrupted run's. Writes what it saw to $GENAUG_KILL_RECORD if set."""
    import json
    import random

    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**CONFIG, "seeds": [0, 1]}))
    rng = random.Random(20)
    kills, orphan_seconds, attempts = 0, [], 0
    while kills < 20:
        attempts += 1
        assert attempts < 80, f"only {kills} kills landed in {attempts} runs"
        assert snakemake(tmp_path, "--unlock").returncode == 0
        proc = subprocess.Popen(
            [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "2",
             "--rerun-incomplete", "--workflow-profile", "none"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 7.0))
        if proc.poll() is not None:
            if (tmp_path / RES / "summary.csv").exists():
                (tmp_path / RES / "summary.csv").unlink()  # keep a tail of work for the remaining kills
            continue
        orphans_before = _jobs_in(tmp_path)
        proc.send_signal(signal.SIGKILL)  # snakemake alone: its jobs are orphaned
        proc.wait()
        kills += 1
        t0 = time.monotonic()
        while _jobs_in(tmp_path):
            assert time.monotonic() - t0 < 30, f"jobs outlived their snakemake: {_jobs_in(tmp_path)}"
            time.sleep(0.1)
        if orphans_before:
            orphan_seconds.append(time.monotonic() - t0)
    assert snakemake(tmp_path, "--unlock").returncode == 0
    r = snakemake(tmp_path, "--cores", "2", "--rerun-incomplete")
    assert r.returncode == 0, r.stderr[-3000:]
    clean = comparable(uninterrupted / RES / "summary.csv")
    ours = comparable(tmp_path / RES / "summary.csv")
    pd.testing.assert_frame_equal(ours[ours["seed"] == 0].reset_index(drop=True), clean.reset_index(drop=True))
    assert "already running" not in _logs(tmp_path)
    assert not list((tmp_path / "results").rglob(".*.tmp*"))
    if os.environ.get("GENAUG_KILL_RECORD"):
        json.dump({"kills": kills, "attempts": attempts, "orphaned_kills": len(orphan_seconds),
                   "orphan_exit_seconds_max": max(orphan_seconds, default=0),
                   "orphan_exit_seconds_mean": sum(orphan_seconds) / max(len(orphan_seconds), 1),
                   "resumed_from_snapshot": _logs(tmp_path).count("resuming from the snapshot")},
                  open(os.environ["GENAUG_KILL_RECORD"], "w"), indent=1)
