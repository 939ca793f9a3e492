"""What data a run trains on, as one string: part of the run's identity, recorded in ``metrics.json``.

A run folder is named by its config, and the config names the data only by a
path (``data.archive``, ``data.root``), which can point at other bytes tomorrow.
So every run records ``data_id`` (in ``metrics.json`` and ``checkpoint.pt``)
and a folder made with other data is refused, never resumed or skipped:

- an archive: ``sha256:<hex>`` of its bytes;
- torchvision's CIFAR: the dataset and the absolute ``data.root``;
- synthetic images: what generates them (sizes, classes, seed).

Hashing a 160 MB archive takes about a second, so each hash is kept in
``<data.root>/archives/sha256.json``, keyed by the archive's absolute path,
size, mtime, inode and ctime: it is recomputed only when the file changes. The
ctime is what a rewrite cannot keep: ``cat other.tar > a.tar; touch -d <old
mtime> a.tar`` keeps the size, the inode and the mtime, but every write and
``touch`` sets the ctime to now.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from omegaconf import DictConfig

from jumpnet.atomic import write_json_atomic
from jumpnet.data.synthetic import SYNTHETIC_SEED

log = logging.getLogger(__name__)
HASHES = "sha256.json"
STAT_KEYS = ("size", "mtime_ns", "inode", "ctime_ns")  # what a change of the file changes (ctime: any write at all)
_memo: dict[tuple, str] = {}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def archive_sha256(path: str | os.PathLike, cache_root: str | os.PathLike) -> str:
    """The archive's SHA-256, from this process's memo, the on-disk cache, or (once per change) its bytes."""
    path = Path(path).expanduser().resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    if key in _memo:
        return _memo[key]
    table_path = Path(cache_root).expanduser() / "archives" / HASHES
    try:
        table = json.loads(table_path.read_text())
        table = table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        table = {}
    entry = table.get(str(path))
    if isinstance(entry, dict) and [entry.get(k) for k in STAT_KEYS] == list(key[1:]) and \
            isinstance(entry.get("sha256"), str):
        digest = entry["sha256"]
    else:
        log.info(f"Hashing {path} (SHA-256, once per change of the file)")
        digest = sha256(path)
        table[str(path)] = {**dict(zip(STAT_KEYS, key[1:])), "sha256": digest}
        try:
            table_path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(table_path, table)
        except Exception as err:  # noqa: BLE001 - a read-only data.root only costs a rehash next time
            log.debug(f"SHA-256 cache not written ({err})")
    _memo[key] = digest
    return digest


def data_identity(data: DictConfig) -> str:
    """The ``data_id`` of a data config (see the module docstring)."""
    if data.name == "synthetic":
        return (f"synthetic: {data.train_size} train + {data.test_size} test images of {data.image_size}px, "
                f"{data.num_classes} classes, seed {SYNTHETIC_SEED}")
    if data.get("archive"):
        return f"sha256:{archive_sha256(data.archive, data.root)}"
    return f"{data.name} (torchvision) in {Path(str(data.root)).expanduser().resolve()}"
