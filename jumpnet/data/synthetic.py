"""``data=synthetic``: seeded, learnable random images of any size and class count, for tests and quick checks.

Generated from ``SYNTHETIC_SEED`` alone, so the same config always gives the same images (and the same
``data_id``: ``jumpnet.data.identity``).
"""
from __future__ import annotations

import numpy as np

from jumpnet.data.arrays import Arrays

SYNTHETIC_SEED = 1234


def synthetic_arrays(num_classes: int, image_size: int, train_size: int, test_size: int) -> Arrays:
    """Each class is a smooth random prototype (a 4x4 colour grid, upsampled) plus pixel noise: learnable and
    robust to shifts."""
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
