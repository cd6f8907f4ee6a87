"""Which `genaug` a job runs, and with which python: the venv's, or under --sdm conda the env's."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genaug import jobenv
from genaug.errors import GenaugError

from .helpers import REPO

WORKFLOW = REPO / "workflow"
OWN_BIN = Path(sys.executable).parent  # this venv's bin/, where `pip install -e .` put `genaug`


def test_without_conda_the_genaug_beside_snakemake_comes_first_and_the_launcher_last():
    path = jobenv.job_path("/usr/bin:/bin", WORKFLOW, OWN_BIN, conda=False).split(os.pathsep)
    assert path == [str(OWN_BIN), "/usr/bin", "/bin", str(WORKFLOW / "bin")]
    assert shutil.which("genaug", path=os.pathsep.join(path)) == str(OWN_BIN / "genaug")


def test_under_conda_a_job_runs_the_launcher_with_the_envs_python(tmp_path):
    """Snakemake puts the env's bin/ first; the env has python but no genaug. The job must then run the
    launcher with the env's python, not the venv's genaug (before: the env was built, then bypassed)."""
    env_bin = tmp_path / "env" / "bin"
    env_bin.mkdir(parents=True)
    marker = tmp_path / "ran-with-env-python"
    python3 = env_bin / "python3"
    python3.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    inherited = os.pathsep.join([str(OWN_BIN), "/usr/bin", "/bin"])  # the venv that started snakemake
    path = os.pathsep.join([str(env_bin), jobenv.job_path(inherited, WORKFLOW, OWN_BIN, conda=True)])
    assert shutil.which("genaug", path=path) == str(WORKFLOW / "bin" / "genaug")
    env = {**os.environ, "PATH": path, "PYTHONPATH": jobenv.python_path(None, WORKFLOW, [])}
    r = subprocess.run(["genaug", "--version"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("genaug "), r.stderr
    assert marker.exists()


def test_pythonpath_puts_user_folders_first_and_keeps_what_was_there_once(tmp_path):
    user = str(tmp_path)
    first = jobenv.python_path("/x", WORKFLOW, [user])
    assert first.split(os.pathsep) == [user, str(WORKFLOW), "/x"]
    assert jobenv.python_path(first, WORKFLOW, [user]) == first


def test_setup_sets_the_run_only_settings_and_refuses_a_missing_folder(tmp_path, monkeypatch):
    for var in ("PATH", "PYTHONPATH", *jobenv.RUN_ONLY_ENV.values()):
        monkeypatch.setenv(var, os.environ.get(var, ""))
    folders = jobenv.setup(WORKFLOW, OWN_BIN, conda=False,
                           config={"device": "cpu", "snapshot_every": 50, "tensorboard": False,
                                   "python_path": [str(tmp_path)]})
    assert folders == [str(tmp_path.resolve())]
    assert os.environ["GENAUG_DEVICE"] == "cpu" and os.environ["GENAUG_SNAPSHOT_EVERY"] == "50"
    with pytest.raises(GenaugError, match="python_path: .*nowhere is not a folder"):
        jobenv.setup(WORKFLOW, OWN_BIN, conda=False,
                     config={"device": "cpu", "snapshot_every": 50, "tensorboard": False,
                             "python_path": [str(tmp_path / "nowhere")]})
