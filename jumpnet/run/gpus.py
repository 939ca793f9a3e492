"""Runs per GPU on one machine: each job claims a slot on the least busy GPU with a lock file.

``hydra/launcher=submitit_local`` shows every job the same ``CUDA_VISIBLE_DEVICES``;
without a claim every parallel run would train on GPU 0. Each GPU has
``trainer.runs_per_gpu`` slots (default 1), one lock file each:
``<lock_dir>/gpu-<i>-slot-<s>.lock``. A job takes an exclusive ``flock`` on a
free slot of the GPU that holds the fewest runs (lowest index on a tie) and
keeps it until the process ends (the kernel releases it even if the job is
killed). Claims are made one at a time under ``claim.lock``, so the counts
they compare are exact and k runs per GPU are spread evenly. With
``hydra.sweeper.max_batch_size`` = GPUs x runs_per_gpu, every GPU runs
``runs_per_gpu`` jobs at a time.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_held: dict[int, int] = {}  # gpu index -> fd of the slot lock this process holds


def default_lock_dir() -> Path:
    return Path(os.environ.get("JUMPNET_GPU_LOCK_DIR", Path(tempfile.gettempdir()) / "jumpnet-gpu-locks"))


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def slot_path(lock_dir: Path, gpu: int, slot: int) -> Path:
    return Path(lock_dir) / f"gpu-{gpu}-slot-{slot}.lock"


def busy_slots(count: int, per_gpu: int, lock_dir: Path) -> list[int]:
    """Runs holding a slot on each GPU (probed by trying each lock; call under ``claim.lock``)."""
    busy = []
    for gpu in range(count):
        held = 0
        for slot in range(per_gpu):
            fd = _try_lock(slot_path(lock_dir, gpu, slot))
            if fd is None:
                held += 1
            else:
                os.close(fd)  # closing releases the probe's lock
        busy.append(held)
    return busy


def claim_gpu(count: int, lock_dir: Path | None = None, per_gpu: int = 1) -> int:
    """Index of the least busy GPU with a free slot, now held by this process; raises when all are full."""
    if _held:
        return next(iter(_held))
    lock_dir = Path(lock_dir or default_lock_dir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    guard = os.open(lock_dir / "claim.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)  # one claim at a time: the counts below stay true until we take a slot
        busy = busy_slots(count, per_gpu, lock_dir)
        for gpu in sorted(range(count), key=lambda g: (busy[g], g)):
            for slot in range(per_gpu):
                fd = _try_lock(slot_path(lock_dir, gpu, slot))
                if fd is not None:
                    _held[gpu] = fd
                    return gpu
    finally:
        os.close(guard)
    total = count * per_gpu
    raise RuntimeError(f"all {count} visible GPUs are full ({per_gpu} run(s) each, trainer.runs_per_gpu={per_gpu}; "
                       f"locks in {lock_dir}); cap parallel jobs at GPUs x runs_per_gpu with "
                       f"hydra.sweeper.max_batch_size={total}")


def release_gpus() -> None:
    for fd in _held.values():
        os.close(fd)
    _held.clear()
