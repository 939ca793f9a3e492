"""A real single-node SLURM cluster on localhost, for tests: munged, slurmctld and slurmd in a temp folder.

Everything lives in the folder it is given: its own munge key and socket, its own
``slurm.conf`` on free ports, state, spool, logs and pid files. Nothing system-wide
is read or changed, and :meth:`SlurmCluster.stop` ends exactly the daemons it
started (by their pid files), after cancelling the jobs still queued. Run this
file directly to get a cluster to poke at by hand:
``.venv/bin/python tests/slurm_cluster.py /tmp/slurm`` (Ctrl-C stops it).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged")


def missing_binaries() -> list[str]:
    """The SLURM/munge programs this machine lacks (empty when a cluster can start)."""
    return [b for b in (*DAEMONS, "sbatch", "squeue", "scontrol", "scancel", "sinfo") if shutil.which(b) is None]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SlurmCluster:
    """One partition (``debug``), one node (``localhost``); no cgroups, no accounting database."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.cpus = len(os.sched_getaffinity(0))

    # -- files -------------------------------------------------------------------------
    def pid_file(self, daemon: str) -> Path:
        return self.root / "run" / f"{daemon}.pid"

    def log_file(self, daemon: str) -> Path:
        return self.root / "log" / f"{daemon}.log"

    @property
    def env(self) -> dict:
        """The environment for clients (sbatch, squeue, submitit) talking to this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_files(self) -> None:
        for sub in ("munge", "run", "log", "state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o700)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        ctld_port, slurmd_port = _free_ports(2)
        r = self.root
        self.conf.write_text(f"""\
ClusterName=jumpnet-test
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket},cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=2
MinJobAge=300
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={self.pid_file('slurmctld')}
SlurmdPidFile={self.pid_file('slurmd')}
SlurmctldLogFile={self.log_file('slurmctld')}
SlurmdLogFile={self.log_file('slurmd')}
NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 60) -> SlurmCluster:
        self._write_files()
        m = self.root / "munge"
        subprocess.run(["munged", "--force", f"--socket={self.munge_socket}", f"--key-file={m / 'munge.key'}",
                        f"--pid-file={self.pid_file('munged')}", f"--log-file={self.log_file('munged')}",
                        f"--seed-file={m / 'munged.seed'}"], check=True, capture_output=True, timeout=30)
        env = self.env
        subprocess.run(["slurmctld", "-f", str(self.conf)], env=env, check=True, capture_output=True, timeout=30)
        subprocess.run(["slurmd", "-f", str(self.conf), "-N", "localhost"], env=env, check=True,
                       capture_output=True, timeout=30)
        deadline = time.time() + timeout
        state = ""
        while time.time() < deadline:
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True)
            state = out.stdout.strip()
            if out.returncode == 0 and state.rstrip("*") in ("idle", "mixed", "allocated"):
                return self
            time.sleep(0.5)
        raise RuntimeError(f"SLURM node not idle after {timeout:.0f}s (sinfo: {state!r}); logs:\n{self.logs()}")

    def stop(self) -> None:
        """Cancel this cluster's jobs, then end the daemons it started, by their pid files."""
        if self.conf.exists() and self.pid_file("slurmctld").exists():
            subprocess.run(["scancel", "--full", "--user=root"], env=self.env, capture_output=True, timeout=30)
            deadline = time.time() + 20
            while time.time() < deadline and self.squeue():
                time.sleep(0.5)
        for daemon in DAEMONS:  # slurmctld and slurmd first: they still need munge to shut down cleanly
            path = self.pid_file(daemon)
            try:
                pid = int(path.read_text().split()[0])
            except (FileNotFoundError, ValueError, IndexError):
                continue
            if not _alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 15
            while _alive(pid) and time.time() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> SlurmCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- queries -----------------------------------------------------------------------
    def squeue(self) -> list[dict]:
        """Jobs the controller knows of: ``id`` (``123_0`` for array tasks), ``state``, ``restarts``."""
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T|%r"], env=self.env, capture_output=True, text=True,
                             timeout=30)
        return [dict(zip(("id", "state", "reason"), line.split("|"))) for line in out.stdout.splitlines() if line]

    def scontrol(self, *args: str) -> str:
        out = subprocess.run(["scontrol", *args], env=self.env, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"scontrol {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def logs(self, tail: int = 30) -> str:
        parts = []
        for daemon in DAEMONS:
            path = self.log_file(daemon)
            if path.exists():
                parts.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-tail:]))
        return "\n".join(parts)


if __name__ == "__main__":
    with SlurmCluster(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/jumpnet-slurm")) as cluster:
        print(f"export SLURM_CONF={cluster.conf}  # Ctrl-C stops the cluster", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
