"""Stratified, seeded splits: validation held out of train, and slices for small budgets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jumpnet.data.arrays import Arrays, DataError

SPLIT_SEED = 0  # the split is part of the dataset, not of the run: every seed sees the same one


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A permutation whose every prefix holds the classes in proportion (a seeded shuffle within class)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(labels))
    y = labels[perm]
    rank = np.zeros(len(y))
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rank[members] = (np.arange(len(members)) + 0.5) / len(members)
    return perm[np.argsort(rank, kind="stable")]


def take(labels: np.ndarray, n: int | None, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified slice of ``n`` and of the rest."""
    order = stratified_order(labels, seed)
    if n is None:
        return order, order[:0]
    if not 0 <= n <= len(labels):
        raise DataError(f"{what}={n} must be between 0 and {len(labels)}, the images available")
    return np.sort(order[:n]), np.sort(order[n:])


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    test_subset_used: bool

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def make_splits(arrays: Arrays, val_size: int = 0, train_subset: int | None = None,
                test_subset: int | None = None) -> Splits:
    """Hold ``val_size`` out of train, then slice train and test; all stratified with the fixed split seed."""
    val_idx, train_idx = take(arrays.y_train, val_size, SPLIT_SEED, "data.val_size")
    if train_subset is not None:
        sub, _ = take(arrays.y_train[train_idx], train_subset, SPLIT_SEED + 1, "data.train_subset")
        train_idx = train_idx[sub]
    test_idx = np.arange(len(arrays.y_test))
    if test_subset is not None:
        test_idx, _ = take(arrays.y_test, test_subset, SPLIT_SEED + 2, "data.test_subset")
    if len(train_idx) == 0:
        raise DataError("no training images left: lower data.val_size or raise data.train_subset")
    return Splits(arrays.x_train[train_idx], arrays.y_train[train_idx], arrays.x_train[val_idx],
                  arrays.y_train[val_idx], arrays.x_test[test_idx], arrays.y_test[test_idx], arrays.classes,
                  test_subset is not None and len(test_idx) < len(arrays.y_test))
