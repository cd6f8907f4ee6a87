"""The grid on a real SLURM cluster (single node, localhost) through the shipped workflow profile.

Marked `slurm`: `.ci/run` installs slurm-wlm and munge and runs these as root. Set
GENAUG_REQUIRE_SLURM=1 to make a missing SLURM a failure instead of a skip.
"""

import os
import subprocess
import time

import pandas as pd
import pytest
import yaml

from .helpers import BIN, REPO, TINY, snakemake
from .slurm_cluster import missing_tools, slurm_cluster

pytestmark = pytest.mark.slurm
PROFILE = REPO / "profiles" / "slurm"
# A cluster without an accounting database: poll squeue, charge no account, check status soon.
NO_ACCOUNTING = ["--slurm-status-command", "squeue", "--slurm-no-account",
                 "--slurm-init-seconds-before-status-checks", "2"]
CONFIG = {**TINY, "seeds": [0],
          "grid": {**TINY["grid"], "regimes": ["semi_balanced"], "models": ["baseline", "vae"]}}


@pytest.fixture(scope="module")
def cluster():
    why = missing_tools() or ([] if os.geteuid() == 0 else ["root"])
    if why:
        if os.environ.get("GENAUG_REQUIRE_SLURM") == "1":
            pytest.fail(f"SLURM test needs {', '.join(why)} (apt-get install -y slurm-wlm munge)")
        pytest.skip(f"needs {', '.join(why)}")
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    threads = max(profile["set-threads"].values())
    mem = max(r.get("mem_mb", 0) for r in profile["set-resources"].values())
    with slurm_cluster(cpus=threads, mem_mb=mem, partition=profile["default-resources"]["slurm_partition"]) as env:
        yield env


def on_slurm(workdir, env, *args, **kwargs):
    return snakemake(workdir, "--workflow-profile", str(PROFILE), *NO_ACCOUNTING, *args, env=env, **kwargs)


@pytest.mark.e2e
def test_tiny_grid_runs_through_slurm_to_the_report(cluster, tmp_path):
    r = on_slurm(tmp_path, cluster, config=CONFIG)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "sbatch" in r.stderr or "SLURM" in r.stderr  # really submitted, not run locally
    df = pd.read_csv(tmp_path / "results" / "digits" / "summary.csv")
    assert sorted(df["model"]) == ["baseline", "vae"] and df["accuracy"].between(0.1, 1).all()
    assert (tmp_path / "results" / "report.html").stat().st_size > 10_000
    # torch's threads came from the profile's set-threads, not from the node's core count
    log = (tmp_path / "results" / "digits" / "logs" / "train_clf" / "cnn" / "real" / "baseline" / "none" /
           "semi_balanced" / "n100" / "s0.log")
    assert log.exists()
    metrics = pd.read_json(tmp_path / "results" / "digits" / "classifiers" / "cnn" / "real" / "baseline" / "none" /
                           "semi_balanced" / "n100" / "s0" / "metrics.json", typ="series")
    assert metrics["threads"] == yaml.safe_load((PROFILE / "config.yaml").read_text())["set-threads"]["train_clf"]


@pytest.mark.e2e
def test_a_job_cancelled_on_slurm_is_reported_failed_and_the_rerun_resumes_it(cluster, tmp_path):
    # 600 steps at smoke effort
    config = {**CONFIG, "snapshot_every": 100, "models": {"vae": {**CONFIG["models"]["vae"], "steps": 60_000}}}
    snapshot = tmp_path / "results" / "digits" / "snapshots" / "train_gen" / "vae" / "semi_balanced" / "n100" / "s0.pt"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.Popen(
        [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--workflow-profile", str(PROFILE), *NO_ACCOUNTING, "--retries", "0"],
        env=cluster,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.time() + 300
        while not snapshot.exists():  # the generator is training on the cluster and has saved a snapshot
            assert run.poll() is None and time.time() < deadline, "train_gen never wrote a snapshot"
            time.sleep(0.2)
        jobs = subprocess.run(["squeue", "-h", "-o", "%i %j", "-t", "RUNNING"], env=cluster, capture_output=True,
                              text=True).stdout.split("\n")
        job_ids = [line.split()[0] for line in jobs if line.strip()]
        assert job_ids, "no running SLURM job"
        subprocess.run(["scancel", *job_ids], env=cluster, check=True)
        out, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0
    assert "Error in rule train_gen" in out and "CANCELLED" in out.upper(), out[-3000:]
    assert snapshot.exists() and not (snapshot.parents[5] / "generators" / "vae" / "semi_balanced" / "n100" /
                                      "s0" / "model.pt").exists()

    r = on_slurm(tmp_path, cluster)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    log = tmp_path / "results" / "digits" / "logs" / "train_gen" / "vae" / "semi_balanced" / "n100" / "s0.log"
    assert "resuming from the snapshot at step" in log.read_text()
    assert len(pd.read_csv(tmp_path / "results" / "digits" / "summary.csv")) == 2
    assert not snapshot.exists()
