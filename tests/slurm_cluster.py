"""A real single-node SLURM cluster on localhost, for the `slurm` tests (and by hand: `python tests/slurm_cluster.py`).

Debian's slurm-wlm (22.05) and munge. munged runs as user munge on its default socket; slurmctld and
slurmd run in the foreground as children of this process, with their state, spool and logs in one
temp folder, so stopping them by PID leaves nothing behind. No accounting database: the executor
plugin must poll with `--slurm-status-command squeue`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
# Where srun looks when SLURM_CONF is unset: the jobstep plugin strips SLURM_* variables from a job's
# environment before its srun, so the config must live at the default path while the cluster runs.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARK = "# genaug test cluster: written and removed by tests/slurm_cluster.py\n"


def missing_tools() -> list[str]:
    return [d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()]


def _conf(root: Path, cpus: int, mem_mb: int, partition: str) -> str:
    return MARK + f"""\
ClusterName=genaug-test
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MpiDefault=none
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName={partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _munge_ok() -> bool:
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
        return cred.returncode == 0 and subprocess.run(
            ["unmunge"], input=cred.stdout, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _start_munge() -> subprocess.Popen | None:
    """Start munged as user munge unless one already answers; returns the process we started."""
    if _munge_ok():
        return None
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    proc = subprocess.Popen(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--foreground", "--force"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if _munge_ok():
            return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("munged did not start; check /etc/munge/munge.key (owner munge, mode 0400)")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def slurm_cluster(cpus: int | None = None, mem_mb: int | None = None, partition: str = "debug"):
    """Run munged, slurmctld and slurmd; yield the environment (SLURM_CONF set) that clients need.

    `cpus` and `mem_mb` may exceed the machine's (config_overrides), so jobs that ask a real
    cluster's share of cores and memory still run here, oversubscribed.
    """
    if os.geteuid() != 0:
        raise RuntimeError("starting slurmd needs root")
    cpus = cpus or os.cpu_count() or 1
    if mem_mb is None:
        with open("/proc/meminfo") as f:
            total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        mem_mb = int(total_kb / 1024 * 0.8)  # below the real total, or slurmd drains the node
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.read_text().startswith(MARK):
        raise RuntimeError(f"{SYSTEM_CONF} exists: this machine has its own SLURM; not starting a test cluster")
    root = Path(tempfile.mkdtemp(prefix="genaug-slurm-"))
    (root / "state").mkdir()
    (root / "spool").mkdir()
    conf = root / "slurm.conf"
    conf.write_text(_conf(root, cpus, mem_mb, partition))
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(conf, SYSTEM_CONF)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs = []
    try:
        procs.append(_start_munge())
        procs.append(subprocess.Popen(["/usr/sbin/slurmctld", "-D", "-i", "-f", str(conf)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1)
        procs.append(subprocess.Popen(["/usr/sbin/slurmd", "-D", "-N", "localhost", "-f", str(conf)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 60
        state = ""
        while time.time() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
            state = out.stdout.strip()
            if state in ("idle", "mix", "alloc"):
                break
            if any(p is not None and p.poll() is not None for p in procs[1:]):
                break
            time.sleep(0.5)
        else:
            state = f"timeout ({state})"
        if state not in ("idle", "mix", "alloc"):
            logs = "\n".join((root / n).read_text()[-2000:] for n in ("slurmctld.log", "slurmd.log")
                             if (root / n).exists())
            raise RuntimeError(f"the SLURM node did not become idle (state {state!r}):\n{logs}")
        yield env
    finally:
        for proc in reversed(procs):
            _stop(proc)
        SYSTEM_CONF.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    with slurm_cluster() as cluster_env:
        print(subprocess.run(["sinfo"], env=cluster_env, capture_output=True, text=True).stdout)
        print(f"SLURM_CONF={cluster_env['SLURM_CONF']}; Ctrl-C stops the cluster", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
