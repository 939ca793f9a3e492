"""Every file a run or the data cache writes goes through here: whole or not at all, and a full disk in a line.

``write_atomic`` writes a temp file beside the target, flushes and fsyncs it,
renames it into place and fsyncs the folder, so a reader (or a machine that
loses power) sees the old file or the new one, never half of one. When the
write fails (a full disk, a quota, a read-only mount), the temp file is removed
at once, so the space it took is free again for ``error.txt`` and the record,
the earlier file is left as it was, and the error becomes one
:class:`WriteError` line naming the path and the errno.

A writer killed between its temp file and the rename (kill -9, a power cut) leaves its temp file,
``.<name>.<random>.tmp``; :func:`stale_temp_files` finds them, for the next attempt to remove under the run's lock.
:func:`unique_path` names a new file or folder that no earlier one has, even within one clock tick: nothing is
ever moved over an earlier file.

Test seam: ``open_for_write(fd)`` opens the temp file; tests replace it to
make the write call fail with ``ENOSPC`` where the filesystem cannot be filled
for real (tests/test_robustness.py does both).
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from jumpnet.errors import JumpnetError


def file_mode() -> int:
    """The mode ``open`` would give a new file: 0o666 less the umask (0o644 under the usual 022, 0o640 under 027).
    mkstemp's own 0o600 would hide a shared data.root's cache from the group."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


class WriteError(JumpnetError):
    """A file could not be written (disk full, quota, read-only): the earlier version is intact."""


def write_error(path: Path, err: OSError) -> WriteError:
    """One line: the path, the errno and what to do; the earlier file is still there."""
    code = errno.errorcode.get(err.errno, str(err.errno)) if err.errno else "?"
    message = f"cannot write {path}: [Errno {err.errno} {code}] {err.strerror or err}"
    first = {errno.ENOENT: "create its folder", errno.ENOTDIR: "make its folder a folder, not a file",
             errno.EROFS: "make that filesystem writable", errno.EACCES: "make that folder writable",
             errno.EPERM: "make that folder writable"}.get(err.errno, "free space on that filesystem")
    fix = f"{first} (or point paths.experiments_dir / data.root elsewhere) and run the same " \
          "command again: what was saved before is intact (the earlier record, and the last checkpoint if one was " \
          "saved: the run resumes from it)"
    return WriteError(message, fix)


def open_for_write(fd: int) -> IO[bytes]:
    """The temp file as a binary file object (the seam tests replace to simulate a full disk)."""
    return os.fdopen(fd, "wb")


def fsync_dir(folder: Path) -> None:
    """Make a rename durable: fsync the folder that holds the renamed file (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


TEMP_SUFFIX = ".tmp"


def temp_prefix(path: Path) -> str:
    return f".{path.name}."


TEMP_NAME = re.compile(r"\..+\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX))  # mkstemp's: .<name>.<8 random>.tmp


def stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """The temp files writers killed mid-write left in ``folder`` (only safe to remove while no writer can run there:
    under the run's lock)."""
    return sorted(p for p in Path(folder).glob(f".*{TEMP_SUFFIX}") if TEMP_NAME.fullmatch(p.name) and p.is_file())


def unique_path(parent: str | os.PathLike, stem: str) -> Path:
    """``parent/stem``, or ``parent/stem-2``, ``-3``, ... : the first name not taken yet (not created)."""
    parent = Path(parent)
    path, n = parent / stem, 1
    while path.exists() or path.is_symlink():
        n += 1
        path = parent / f"{stem}-{n}"
    return path


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None], mode: int | None = None) -> None:
    """Call ``write(f)`` on a temp file beside ``path``, fsync it, rename it over ``path``; WriteError on failure."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)
        with open_for_write(fd) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode() if mode is None else mode)  # mkstemp makes 0600: the group could not read it
        os.replace(tmp, path)
        tmp = None
        fsync_dir(path.parent)
    except OSError as err:
        raise write_error(path, err) from err
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def strict(value: Any) -> Any:
    """``value`` with every non-finite float as None: strict JSON (no ``NaN``/``Infinity`` literals)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Strict JSON (non-finite floats become null), written atomically."""
    text = json.dumps(strict(data), indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)
