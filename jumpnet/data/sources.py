"""Where the images come from: an ImageFolder tar, torchvision's CIFAR, or seeded synthetic images."""
from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from jumpnet.data.archive import load_archive
from jumpnet.data.arrays import Arrays, DataError

__all__ = ["Arrays", "DataError", "load_arrays", "synthetic_arrays"]

SYNTHETIC_SEED = 1234


def torchvision_arrays(name: str, root: str, download: bool) -> Arrays:
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    try:
        train, test = (cls(root, train=t, download=download) for t in (True, False))
    except RuntimeError as err:
        raise DataError(f"{name} is not under data.root={root!r} ({err}). Pass data.download=true to fetch it, "
                        f"or data.archive=<tar of an ImageFolder tree> to read a local copy.") from err
    return Arrays(np.asarray(train.data, np.uint8), np.asarray(train.targets, np.int64),
                  np.asarray(test.data, np.uint8), np.asarray(test.targets, np.int64), list(train.classes))


def synthetic_arrays(num_classes: int, image_size: int, train_size: int, test_size: int) -> Arrays:
    """Each class is a smooth random prototype (a 4x4 colour grid, upsampled) plus pixel noise: learnable, shift-robust."""
    rng = np.random.default_rng(SYNTHETIC_SEED)
    grid = rng.uniform(0, 255, (num_classes, 4, 4, 3))
    reps = -(-image_size // 4)
    protos = grid.repeat(reps, axis=1).repeat(reps, axis=2)[:, :image_size, :image_size]

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes
        x = 0.6 * protos[y] + 0.4 * rng.uniform(0, 255, (n, image_size, image_size, 3))
        return x.clip(0, 255).astype(np.uint8), y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = draw(train_size), draw(test_size)
    return Arrays(x_train, y_train, x_test, y_test, [f"class{i}" for i in range(num_classes)])


def load_arrays(data: DictConfig) -> Arrays:
    """The full train and test splits the data config names, checked against its declared shape."""
    if data.name == "synthetic":
        arrays = synthetic_arrays(data.num_classes, data.image_size, data.train_size, data.test_size)
    elif data.get("archive"):
        arrays = load_archive(data.archive, data.root)
    elif data.name in ("cifar10", "cifar100"):
        arrays = torchvision_arrays(data.name, data.root, bool(data.download))
    else:
        raise DataError(f"data.name={data.name!r} has no source; use data=cifar10|cifar100|synthetic or set data.archive")
    if len(arrays.classes) != data.num_classes:
        raise DataError(f"data.num_classes={data.num_classes} but the {data.name} data has {len(arrays.classes)} classes "
                        f"({data.get('archive') or data.root}); set data.num_classes={len(arrays.classes)} or pick the "
                        f"matching archive.")
    size = arrays.x_train.shape[1:3]
    if tuple(size) != (data.image_size, data.image_size):
        raise DataError(f"data.image_size={data.image_size} but the images are {size[0]}x{size[1]}; "
                        f"set data.image_size={size[0]}.")
    return arrays
