"""One run per GPU on a machine with several: each job claims the first free GPU with a lock file.

``hydra/launcher=submitit_local`` shows every job the same ``CUDA_VISIBLE_DEVICES``;
without a claim every parallel run would train on GPU 0. A job takes an
exclusive ``flock`` on ``<lock_dir>/gpu-<i>.lock`` for the first GPU ``i`` no
other job holds, and keeps it until the process ends (the kernel releases it
even if the job is killed). With ``hydra.sweeper.max_batch_size`` equal to
the GPU count, every GPU runs one job at a time.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_held: dict[int, int] = {}  # gpu index -> fd of the lock this process holds


def default_lock_dir() -> Path:
    return Path(os.environ.get("JUMPNET_GPU_LOCK_DIR", Path(tempfile.gettempdir()) / "jumpnet-gpu-locks"))


def claim_gpu(count: int, lock_dir: Path | None = None) -> int:
    """Index of a GPU no other job holds, now held by this process; raises when all ``count`` are busy."""
    if _held:
        return next(iter(_held))
    lock_dir = Path(lock_dir or default_lock_dir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        fd = os.open(lock_dir / f"gpu-{index}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held[index] = fd
        return index
    raise RuntimeError(f"all {count} visible GPUs are claimed by other jobs (locks in {lock_dir}); "
                       f"cap parallel jobs at the GPU count with hydra.sweeper.max_batch_size={count}")


def release_gpus() -> None:
    for fd in _held.values():
        os.close(fd)
    _held.clear()
