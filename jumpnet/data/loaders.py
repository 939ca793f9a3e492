"""Choose how a run's three splits are served: the fast in-memory path or the plain DataLoader path."""
from __future__ import annotations

import torch
from omegaconf import DictConfig

from jumpnet.data.loader import BatchLoader, channel_stats
from jumpnet.data.splits import Splits


def make_loaders(splits: Splits, data: DictConfig, trainer: DictConfig, seed: int,
                 device: torch.device) -> tuple[BatchLoader, BatchLoader | None, BatchLoader]:
    """(train, val or None, test) loaders; normalization constants come from the training split."""
    mean, std = channel_stats(splits.x_train)
    common = dict(device=device, mean=mean, std=std, channels_last=bool(trainer.channels_last))
    batch, eval_batch = int(trainer.batch_size), int(trainer.eval_batch_size)
    train = BatchLoader(splits.x_train, splits.y_train, batch, train=True, crop_padding=int(data.crop_padding),
                        flip=bool(data.flip), seed=seed, drop_last=len(splits.y_train) % batch == 1, **common)
    val = BatchLoader(splits.x_val, splits.y_val, eval_batch, **common) if len(splits.y_val) else None
    test = BatchLoader(splits.x_test, splits.y_test, eval_batch, **common)
    return train, val, test
