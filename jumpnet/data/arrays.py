"""The in-memory form every data source produces: uint8 NHWC images and int64 labels."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jumpnet.errors import DataError

__all__ = ["Arrays", "DataError"]


@dataclass
class Arrays:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
