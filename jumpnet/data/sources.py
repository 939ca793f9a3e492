"""Where the images come from: an ImageFolder tar, torchvision's CIFAR, or seeded synthetic images."""
from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from jumpnet.data.archive import load_archive
from jumpnet.data.arrays import Arrays, DataError
from jumpnet.data.lock import preparing
from jumpnet.data.synthetic import synthetic_arrays

__all__ = ["Arrays", "DataError", "load_arrays", "synthetic_arrays"]


def _read_torchvision(cls: type, root: str, download: bool) -> Arrays:
    train, test = (cls(root, train=t, download=download) for t in (True, False))
    return Arrays(np.asarray(train.data, np.uint8), np.asarray(train.targets, np.int64),
                  np.asarray(test.data, np.uint8), np.asarray(test.targets, np.int64), list(train.classes))


def torchvision_arrays(name: str, root: str, download: bool) -> Arrays:
    """CIFAR through torchvision: read from ``root``, else downloaded there by one process while others wait."""
    from torchvision import datasets  # noqa: PLC0415 - slow to import (over 1 s, torch._dynamo): plan, status skip it

    cls, label = {"cifar10": (datasets.CIFAR10, "CIFAR-10"), "cifar100": (datasets.CIFAR100, "CIFAR-100")}[name]
    offline = ("without internet, point data.archive (or JUMPNET_DATA_ARCHIVE) at a local copy: "
               "a tar of train/<class>/*, test/<class>/*")
    try:
        return _read_torchvision(cls, root, download=False)  # already prepared: no lock needed to read it
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        if not download:
            raise DataError(f"{label} is not under data.root={root!r} and data.download=false",
                            f"pass data.download=true to fetch it, or {offline}") from err
    with preparing(root, name):
        try:
            return _read_torchvision(cls, root, download=True)
        except (OSError, RuntimeError) as err:  # URLError (no network) is an OSError
            reason = getattr(err, "reason", None) or err
            raise DataError(f"{label} could not be downloaded into data.root={root!r} ({reason})", offline) from err


KNOWN = {"cifar10": ("CIFAR-10", 10), "cifar100": ("CIFAR-100", 100)}  # label and class count of each dataset


def check_classes(data: DictConfig, arrays: Arrays) -> None:
    """The data's classes must be the ones the config declares; for CIFAR, a count that is not the dataset's
    means the archive is another dataset's (the env var is every dataset's default), never a setting to change."""
    found, archive = len(arrays.classes), data.get("archive")
    names = ", ".join(arrays.classes[:4]) + (", ..." if found > 4 else "")
    label, count = KNOWN.get(data.name, (data.name, None))
    if archive and count is not None and found != count:
        raise DataError(f"data={data.name} has {count} classes but data.archive={archive!r} holds {found} "
                        f"({names}): it is not a {label} archive",
                        f"point data.archive (or JUMPNET_DATA_ARCHIVE, the default of every dataset) at a {label} "
                        f"copy, or set data.archive=null to download {label}")
    if found != data.num_classes:
        where = f"data.archive={archive!r}" if archive else f"data.root={data.root!r}"
        raise DataError(f"data.num_classes={data.num_classes} but the {data.name} data in {where} has {found} "
                        f"classes ({names})", f"set data.num_classes={found}")


def load_arrays(data: DictConfig) -> Arrays:
    """The full train and test splits the data config names, checked against its declared shape."""
    if data.name == "synthetic":
        arrays = synthetic_arrays(data.num_classes, data.image_size, data.train_size, data.test_size)
    elif data.get("archive"):
        arrays = load_archive(data.archive, data.root)
    elif data.name in ("cifar10", "cifar100"):
        arrays = torchvision_arrays(data.name, data.root, bool(data.download))
    else:
        raise DataError(f"data.name={data.name!r} has no source; "
                        "use data=cifar10|cifar100|synthetic or set data.archive")
    check_classes(data, arrays)
    size = arrays.x_train.shape[1:3]
    if tuple(size) != (data.image_size, data.image_size):
        raise DataError(f"data.image_size={data.image_size} but the images are {size[0]}x{size[1]}; "
                        f"set data.image_size={size[0]}.")
    return arrays
