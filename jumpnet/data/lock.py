"""One preparation of a dataset at a time: a file lock in ``data.root`` around download and decoding.

Parallel jobs (a SLURM array, ``submitit_local``) that find the data missing all
reach this lock; the first downloads or decodes, the others wait and then read
what it wrote. ``flock`` locks (``filelock``) are released when a process dies,
so a killed preparation never blocks the next one. ``make data`` prepares the
data once, before a launch, so jobs rarely wait at all.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from jumpnet.errors import DataError

log = logging.getLogger(__name__)


@contextmanager
def preparing(folder: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold ``<folder>/.<what>.lock`` while ``what`` is prepared there; wait (saying so) while another process does."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"data.root={str(folder)!r} cannot be created ({err.strerror})",
                        "point data.root (or JUMPNET_DATA_ROOT) at a writable folder") from err
    lock = FileLock(str(folder / f".{what}.lock"))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info(f"Waiting for another process preparing {what} in {folder} ({lock.lock_file})")
            lock.acquire()
    except OSError as err:
        raise DataError(f"{what} cannot be prepared in {str(folder)!r} ({err.strerror or err})",
                        "point data.root (or JUMPNET_DATA_ROOT) at a writable folder, or prepare the data "
                        "there once with `make data` from an account that can write it") from err
    try:
        yield
    finally:
        lock.release()
