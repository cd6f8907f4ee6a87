"""One process per cell: the snapshot lock, jobs that end with their Snakemake, temp files that are never shared."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from genaug.cli import main
from genaug.errors import GenaugError
from genaug.io import atomic_path, remove_stale_temps
from genaug.process import exclusive, snakemake_ancestor


def _wait_gone(pid: int, seconds: float = 30.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # reap it if it is our child
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.1)
    return False


def test_a_second_holder_of_a_cell_is_refused_with_the_first_ones_pid(tmp_path):
    with exclusive(tmp_path / "s0.pt", "train_gen") as lock:
        assert lock.read_text().startswith(f"pid {os.getpid()} on ")
        child = subprocess.run(
            [sys.executable, "-c", f"from genaug.process import exclusive\nwith exclusive({str(tmp_path / 's0.pt')!r}, "
             "'train_gen'): pass"], capture_output=True, text=True)
        assert child.returncode != 0 and f"train_gen is already running (pid {os.getpid()} on" in child.stderr
    assert not (tmp_path / "s0.pt.lock").exists()
    with exclusive(tmp_path / "s0.pt", "train_gen"):  # free again
        pass


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from genaug.process import exclusive
        with exclusive({str(tmp_path / 's0.pt')!r}, 'train_clf'):
            print('held', flush=True)
            time.sleep(120)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(GenaugError, match=rf"pid {holder.pid} on"):
        with exclusive(tmp_path / "s0.pt", "train_clf"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with exclusive(tmp_path / "s0.pt", "train_clf"):
        pass


def test_the_cli_refuses_a_second_training_process_without_touching_its_log(tmp_path, capsys):
    log = tmp_path / "train.log"
    log.write_text("the running job's log\n")
    with exclusive(tmp_path / "snap.pt", "train_gen"):
        status = main(["train_gen", "--data", "d.npz", "--subset", "s.npz", "--seed", "0", "--spec", "{}",
                       "--out", str(tmp_path / "model.pt"), "--loss-log", str(tmp_path / "loss.csv"),
                       "--snapshot", str(tmp_path / "snap.pt"), "--log", str(log)])
    assert status == 2
    assert "already running" in capsys.readouterr().err
    assert log.read_text() == "the running job's log\n"


def test_a_job_ends_itself_when_the_snakemake_that_started_it_is_killed(tmp_path):
    """SIGKILL of snakemake leaves its shell waiting on the job; the job sees snakemake gone and stops."""
    fake = tmp_path / "snakemake"  # a process whose command line is snakemake's
    fake.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import subprocess, sys, time
        job = ("{sys.executable} -c 'import time; from genaug.process import die_with_snakemake; "
               "assert die_with_snakemake(poll_seconds=0.2) is not None; open(\\"{tmp_path}/job.pid\\", \\"w\\")"
               ".write(str(__import__(\\"os\\").getpid())); time.sleep(120)'; true")
        subprocess.Popen(["/bin/sh", "-c", job])
        time.sleep(120)
        """))
    fake.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    snakemake = subprocess.Popen([str(fake)], env=env)
    pid_file = tmp_path / "job.pid"
    end = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < end:
        time.sleep(0.1)
    job = int(pid_file.read_text())
    os.kill(job, 0)  # running
    snakemake.send_signal(signal.SIGKILL)
    snakemake.wait()
    assert _wait_gone(job), "the job outlived its snakemake"


def test_a_process_run_by_hand_has_no_snakemake_to_watch():
    assert snakemake_ancestor() is None


def test_clearing_stale_temps_spares_a_live_writers_file(tmp_path):
    target = tmp_path / "model.pt"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        from genaug.io import _HOST

        live = tmp_path / f".model.pt.{_HOST}-{sleeper.pid}.abc123.tmp.pt"
        dead = tmp_path / f".model.pt.{_HOST}-999999999.def456.tmp.pt"
        legacy = tmp_path / ".model.pt.xyz789.tmp.pt"
        for f in (live, dead, legacy):
            f.write_bytes(b"partial")
        remove_stale_temps(target)
        assert live.exists() and not dead.exists() and not legacy.exists()
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"done")
        assert target.read_bytes() == b"done" and live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.heavy
def test_a_job_that_outgrows_its_rules_memory_is_stopped_in_seconds_and_a_huge_batch_is_capped(
        tmp_path, digits_cache):
    """batch_size 100000 once grew a job to 23 GB until the kernel killed it. Now a batch is capped at the images
    it draws from, and a job that still outgrows its rule's mem_mb (here a 2 x 30,000-wide network) is stopped."""
    import json

    from .helpers import BIN

    sub = tmp_path / "sub.npz"
    assert main(["subset", "--data", str(digits_cache), "--regime", "balanced", "--size", "n100", "--seed", "0",
                 "--validation-per-class", "10", "--out", str(sub)]) == 0

    def train(tag, batch_size, hparams):
        spec = {"name": "cvae", "family": "cvae", "per_class": False, "hparams": hparams,
                "train": {"steps": 3, "batch_size": batch_size, "lr": 1e-3}}
        return subprocess.run(
            [str(BIN / "genaug"), "train_gen", "--data", str(digits_cache), "--subset", str(sub), "--seed", "0",
             "--spec", json.dumps(spec), "--mem-mb", "1500", "--out", str(tmp_path / f"{tag}.pt"),
             "--loss-log", str(tmp_path / f"{tag}.csv")], capture_output=True, text=True, timeout=300)

    wide = train("wide", 32, {"hidden": [30000, 30000]})
    assert wide.returncode == 2, wide.stderr[-2000:]
    assert ("models.cvae.batch_size = 32 or the network's size (models.cvae.hparams): this job's memory passed "
            "the 1500 MB its rule asks for") in wide.stderr
    assert "--set-resources train_gen:mem_mb=N" in wide.stderr
    assert not (tmp_path / "wide.pt").exists()
    huge = train("huge", 100_000, {})  # the batch that took the machine down: capped at the subset's 100 images
    assert huge.returncode == 0, huge.stderr[-2000:]
    assert "batch_size 100000 is more than the 100 training images it draws from; batches of 100" in huge.stderr
    assert (tmp_path / "huge.pt").exists()
