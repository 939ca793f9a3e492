"""Read an ImageFolder tree (``train/<class>/*``, ``test/<class>/*``) straight out of a tar archive.

Members are decoded in memory, never extracted to disk by the names they carry;
a member that cannot be decoded (garbage, a header claiming 40000x40000 pixels)
is an error naming it. The decoded uint8 arrays are cached under the data root,
keyed by the archive's SHA-256 alone (``archives/sha256-<hex>.npz``), so a
different archive never reuses a stale cache and the same bytes under another
name (or path) reuse it; the cache is written atomically, readable by the group
(a shared ``data.root``), and a damaged one is rebuilt, with a warning naming it.

A cut archive is an error, wherever the cut falls: Python's ``tarfile`` takes a
header cut short (or garbled) for the end of the archive and stops quietly,
which would shrink the test split without a word, so ``StrictTarInfo`` accepts
only the end-of-archive marker (a zero block) as the end.
"""
from __future__ import annotations

import io
import logging
import lzma
import os
import re
import tarfile
import zlib
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from jumpnet.atomic import write_atomic
from jumpnet.data.arrays import Arrays, DataError
from jumpnet.data.identity import archive_sha256, sha256
from jumpnet.data.lock import preparing

__all__ = ["check_archive", "decode_archive", "load_archive", "read_cache", "sha256"]

log = logging.getLogger(__name__)
SPLITS = ("train", "test")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp", ".tif", ".tiff"}


class StrictTarInfo(tarfile.TarInfo):
    """A member header that must be whole: anything but a full header or the zero end block is an error."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:  # the end-of-archive marker: a proper end
            raise
        except (tarfile.TruncatedHeaderError, tarfile.EmptyHeaderError, tarfile.InvalidHeaderError) as err:
            if tar.offset == 0:
                raise  # not a tar of this kind (tarfile.open then tries the next compression)
            raise tarfile.ReadError(f"the header at byte {tar.offset} is cut short or damaged ({err}), "
                                    f"before the end-of-archive marker") from None


def _split_member(name: str) -> tuple[str, str] | None:
    """``(split, class)`` of an image member, tolerating one leading folder (``cifar10/train/cat/1.jpg``)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) == 4:
        parts = parts[1:]
    if len(parts) != 3 or parts[0] not in SPLITS or Path(parts[2]).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    return parts[0], parts[1]


@cache
def _is_tar(path: str, size: int, mtime_ns: int) -> bool:
    return tarfile.is_tarfile(path)


def check_archive(path: str | os.PathLike) -> None:
    """A DataError, before any run folder exists, unless ``path`` can be read and is a tar (plain or compressed):
    only its first header is read here; a member cut short or damaged is found when it is decoded."""
    shown = str(path)
    path = Path(path).expanduser()
    try:
        st = path.stat()
        ok = _is_tar(str(path.resolve()), st.st_size, st.st_mtime_ns)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as err:
        raise DataError(f"data.archive={shown!r} cannot be read ({getattr(err, 'strerror', None) or err})",
                        "make it readable, or point data.archive (or JUMPNET_DATA_ARCHIVE) elsewhere") from err
    if not ok:
        raise DataError(f"data.archive={shown!r} is not a tar archive (plain, .gz, .bz2 or .xz)",
                        "point data.archive (or JUMPNET_DATA_ARCHIVE) at a tar of an ImageFolder tree "
                        "(train/<class>/*, test/<class>/*)")


def decode_member(path: Path, name: str, data: bytes) -> np.ndarray:
    """One image member as uint8 HWC RGB; a DataError naming the member when it is not an image PIL can decode."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as err:  # noqa: BLE001 - PIL raises many kinds on a bad file; any of them means this member
        why = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", " ".join(str(err).split()))
        raise DataError(f"data.archive={str(path)!r}: member {name} cannot be decoded as an image "
                        f"({type(err).__name__}: {why})",
                        "remove or re-encode that file in the archive, or point data.archive elsewhere") from None


def decode_archive(path: Path) -> Arrays:
    """Decode every image of the archive into uint8 NHWC arrays; labels follow sorted class names."""
    images: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    names: dict[str, list[str]] = {s: [] for s in SPLITS}
    try:
        with tarfile.open(path, mode="r:*", tarinfo=StrictTarInfo) as tar:
            for member in tar:
                where = _split_member(member.name) if member.isfile() else None
                if where is None:
                    continue
                images[where[0]].append(decode_member(path, member.name, tar.extractfile(member).read()))
                names[where[0]].append(where[1])
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError) as err:
        raise DataError(f"data.archive={str(path)!r} could not be read to the end ({err}); it is truncated or "
                        f"not a tar archive. Re-copy it (check its .sha256) or point data.archive elsewhere.") from err
    if not images["train"] or not images["test"]:
        raise DataError(
            f"data.archive={str(path)!r} is not an ImageFolder tree: it needs image files at "
            f"train/<class>/<file> and test/<class>/<file> (found {len(images['train'])} train, "
            f"{len(images['test'])} test images).")
    classes = sorted(set(names["train"]))
    if sorted(set(names["test"])) != classes:
        raise DataError(f"data.archive={str(path)!r}: test/ classes {sorted(set(names['test']))} differ from "
                        f"train/ classes {classes}.")
    shapes = {a.shape for s in SPLITS for a in images[s]}
    if len(shapes) != 1:
        raise DataError(f"data.archive={str(path)!r} mixes image sizes {sorted(shapes)[:4]}; resize them to one size.")
    index = {c: i for i, c in enumerate(classes)}
    return Arrays(
        x_train=np.stack(images["train"]), y_train=np.array([index[c] for c in names["train"]], dtype=np.int64),
        x_test=np.stack(images["test"]), y_test=np.array([index[c] for c in names["test"]], dtype=np.int64),
        classes=classes,
    )


def read_cache(cache: Path) -> Arrays:
    with np.load(cache) as f:
        return Arrays(f["x_train"], f["y_train"], f["x_test"], f["y_test"], [str(c) for c in f["classes"]])


def write_cache(cache: Path, arrays: Arrays) -> None:
    write_atomic(cache, lambda f: np.savez(f, x_train=arrays.x_train, y_train=arrays.y_train, x_test=arrays.x_test,
                                           y_test=arrays.y_test, classes=np.array(arrays.classes)))


def _cached(cache: Path, rebuild_damaged: bool) -> Arrays | None:
    """The cached arrays, or None; a damaged cache is removed (with a warning) only by the holder of the lock."""
    if not cache.is_file():
        return None
    try:
        return read_cache(cache)
    except Exception as err:  # noqa: BLE001 - BadZipFile, KeyError, ValueError, EOFError, zlib.error ...
        if rebuild_damaged:
            log.warning(f"Decoded cache {cache} is damaged ({type(err).__name__}: {err}); removing it and "
                        f"decoding the archive again")
            cache.unlink(missing_ok=True)
        return None


def load_archive(path: str | os.PathLike, cache_root: str | os.PathLike) -> Arrays:
    """Arrays of the archive, decoded once (by one process at a time: ``preparing``) and then read from the cache."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"data.archive={str(path)!r} does not exist",
                        "point data.archive (or JUMPNET_DATA_ARCHIVE) at a tar of an ImageFolder tree, "
                        "or set data.archive=null to use torchvision's dataset")
    digest = archive_sha256(path, cache_root)
    cache = Path(cache_root).expanduser() / "archives" / f"sha256-{digest[:16]}.npz"  # the content, not the name
    arrays = _cached(cache, rebuild_damaged=False)
    if arrays is not None:
        return arrays
    with preparing(cache.parent, cache.stem):
        arrays = _cached(cache, rebuild_damaged=True)  # another process may have decoded it while this one waited
        if arrays is not None:
            return arrays
        log.info(f"Decoding {path} (once; cached at {cache})")
        arrays = decode_archive(path)
        write_cache(cache, arrays)
    return arrays
