"""One run's folder: its record (``metrics.json``), its lock, and what state it is in.

A run folder is the unit of resumability. ``metrics.json`` is written atomically
(temp file, then rename) so a reader never sees half a record; a lock file
guarantees the same run is never trained by two processes at once.
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from jumpnet.errors import JumpnetError

METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"
ERROR = "error.txt"
LOCK = ".lock"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file beside ``path`` and rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, allow_nan=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_metrics(run_dir: Path) -> dict | None:
    """The run's record, or None when it has none (or an unreadable one)."""
    try:
        return json.loads((Path(run_dir) / METRICS).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def run_status(run_dir: Path) -> str:
    """``completed``/``failed``/``diverged`` from the record; ``interrupted`` (a checkpoint, no record); ``new``."""
    record = read_metrics(run_dir)
    if record is not None:
        return record.get("status", "unknown")
    if (Path(run_dir) / CHECKPOINT).exists():
        return "interrupted"
    return "new"


def checkpoint_progress(run_dir: Path) -> dict | None:
    """Epochs done and best validation accuracy so far, read from ``checkpoint.pt`` (None if absent or unreadable)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a damaged or foreign file: progress unknown, the folder untouched
        return None
    return {"epoch": int(state.get("epoch", 0)), "best_val_acc": state.get("best_val_acc")}


def lock_holder(run_dir: Path) -> str | None:
    """Who trains this run right now (the pid and host its lock file names), or None when nobody holds its lock.

    Read from the kernel's lock table (``/proc/locks``), never by taking the lock:
    a reader must not make a starting run think its folder is busy. Sees holders
    on this machine only (a SLURM job elsewhere shows as interrupted).
    """
    path = Path(run_dir) / LOCK
    try:
        st = path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    if not any(len(f) > 5 and f[1] == "FLOCK" and f[5] == dev for f in map(str.split, table.splitlines())):
        return None
    try:
        return " ".join(path.read_text().split()) or "unknown"
    except OSError:
        return "unknown"


class RunLock:
    """An exclusive, non-blocking ``flock`` on the run folder's ``.lock``; released on process death too."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class RunBusy(JumpnetError, RuntimeError):
    """Another process holds the run folder's lock: this one leaves the folder untouched."""


@contextmanager
def lock_run(run_dir: Path, holder: str = "") -> Iterator[RunLock]:
    """Hold the run folder's lock, writing who holds it; refuse, naming the holder, if it is taken."""
    lock = RunLock(run_dir)
    if not lock.acquire():
        who = " ".join(lock.path.read_text().split()) or "unknown"
        raise RunBusy(f"{run_dir} is being trained by another process (pid {who}, from {lock.path}); "
                      f"not starting a second copy, its record is left as it is",
                      "wait for that process, or stop it and run again to resume from its checkpoint")
    try:
        if holder:
            with open(lock.path, "a") as f:  # after the pid RunLock wrote
                f.write(holder + "\n")
        yield lock
    finally:
        lock.release()
