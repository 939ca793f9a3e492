"""One run's folder: its record (``metrics.json``), its lock, and what state it is in.

A run folder is the unit of resumability. ``metrics.json`` is written atomically
(``jumpnet.atomic``: temp file, fsync, rename) and as strict JSON, so a reader
never sees half a record; a lock file guarantees the same run is never trained
by two processes at once. A record that cannot be read (not UTF-8, not JSON,
not a run record: ``jumpnet.run.record_check``) is never overwritten: the run refuses to start and says
so, and every reader (``status``, the report, the sweeper) names it, ``unreadable: <file>: <why>``.

The lock is an ``flock`` on ``.lock``: the kernel releases it when the last descriptor of its open file goes. A
forked child (a DataLoader worker) would inherit that descriptor and keep the lock past its parent's death, so
every child closes it as it starts (``os.register_at_fork``) and ``exec`` closes it too (``O_CLOEXEC``).
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from jumpnet.atomic import write_json_atomic
from jumpnet.errors import JumpnetError
from jumpnet.run.record_check import record_problem

__all__ = ["CHECKPOINT", "ERROR", "FINAL", "LOCK", "METRICS", "RecordUnreadable", "RunBusy", "checkpoint_progress",
           "lock_holder",
           "lock_run", "read_metrics", "run_status", "wait_until_free", "write_json_atomic"]

METRICS = "metrics.json"
CHECKPOINT = "checkpoint.pt"
ERROR = "error.txt"
LOCK = ".lock"
FINAL = ("completed", "diverged")  # outcomes: a run with such a record is done (divergence is a result)


class RecordUnreadable(JumpnetError):
    """``metrics.json`` exists but is not a run record: it may hold a finished run's results, so it is left alone."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"unreadable: {path}: {why}; it is left as it is",
                         "look at it (it may hold a finished run's results), mend it or move it aside, and run the "
                         "same command again (an unfinished run resumes from its checkpoint)")
        self.args = (path, why)  # pickles (submitit sends a job's exception back) and rebuilds the same message
        self.path, self.why = path, why


def read_metrics(run_dir: Path) -> dict | None:
    """The run's record, None when it has none; RecordUnreadable when it has one that is not a valid run record."""
    path = Path(run_dir) / METRICS
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, ValueError, OSError, RecursionError) as err:
        why = "not UTF-8" if isinstance(err, UnicodeDecodeError) else \
            f"not JSON ({err})" if isinstance(err, (ValueError, RecursionError)) else err.strerror or str(err)
        raise RecordUnreadable(path, " ".join(why.split())) from err
    why = record_problem(record)
    if why:
        raise RecordUnreadable(path, why)
    return record


def run_status(run_dir: Path) -> str:
    """``completed``/``failed``/``diverged``/``interrupted`` from the record; ``interrupted`` (a checkpoint, no
    record); ``new``; ``unreadable`` (a record that cannot be read: see :func:`read_metrics`)."""
    try:
        record = read_metrics(run_dir)
    except RecordUnreadable:
        return "unreadable"
    if record is not None:
        return str(record.get("status", "unknown"))
    if (Path(run_dir) / CHECKPOINT).exists():
        return "interrupted"
    return "new"


def checkpoint_progress(run_dir: Path) -> dict | None:
    """Epochs done and best validation accuracy so far, read from ``checkpoint.pt`` (None if absent or unreadable)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        epoch, best = state.get("epoch", 0), state.get("best_val_acc")
    except Exception:  # a damaged or foreign file: progress unknown, the folder untouched
        return None
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        return None
    fraction = isinstance(best, float) and 0 <= best <= 1
    return {"epoch": epoch, "best_val_acc": best if fraction else None}


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


_held: set[int] = set()  # descriptors of the run locks this process holds


def _close_in_child() -> None:
    """In a forked child (a DataLoader worker): close the parent's lock descriptors, so the lock dies with it."""
    for fd in _held:
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)


class RunLock:
    """An exclusive, non-blocking ``flock`` on the run folder's ``.lock``; released on process death too, never
    held by a child process (see the module docstring)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        _held.add(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # a full disk: the lock holds all the same, only its note of who holds it is missing
            pass
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            _held.discard(self._fd)
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
        try:
            who = " ".join(lock.path.read_text(errors="replace").split()) or "unknown"
        except OSError:
            who = "unknown"
        raise RunBusy(f"{run_dir} is being trained by another process (pid {who}, from {lock.path}); "
                      f"not starting a second copy, its record is left as it is",
                      "wait for that process, or stop it and run again to resume from its checkpoint")
    try:
        if holder:
            try:
                with open(lock.path, "a") as f:  # after the pid RunLock wrote
                    f.write(holder + "\n")
            except OSError:
                pass
        yield lock
    finally:
        lock.release()


def wait_until_free(run_dir: Path) -> None:
    """Block until no process holds the run folder's lock (a sweep waiting for another process's run)."""
    try:
        fd = os.open(Path(run_dir) / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # granted once the holder's exclusive lock is gone
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
