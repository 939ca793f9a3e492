"""Choose how a run's three splits are served: the fast in-memory path or the plain DataLoader path.

``trainer.fast=true``: ``BatchLoader`` (the split on the device as uint8, batched
augmentation there; the Trainer adds bf16 autocast on CUDA).
``trainer.fast=false``: ``PlainLoader`` (torchvision transforms per image in
DataLoader workers, ``trainer.workers`` of them, default ``min(2, cores)``; fp32).
Both honour ``trainer.channels_last`` (resolved for the device) for the batches they yield, to match the model.

Static shapes (for ``torch.compile`` and CUDA graphs): every training batch
has ``trainer.batch_size`` images. The ragged last batch is dropped and the
order is reshuffled every epoch, so a dropped image is seen in other epochs
(and a split smaller than one batch is one batch). Evaluation keeps every
image: ``jumpnet.train.loop.evaluate`` pads its last batch instead.
"""
from __future__ import annotations

import torch
from omegaconf import DictConfig

from jumpnet.data.fast_loader import BatchLoader, channel_stats
from jumpnet.data.plain_loader import PlainLoader
from jumpnet.data.splits import Splits

Loader = BatchLoader | PlainLoader


def make_loaders(splits: Splits, data: DictConfig, trainer: DictConfig, seed: int, device: torch.device,
                 channels_last: bool = False) -> tuple[Loader, Loader | None, Loader]:
    """(train, val or None, test) loaders; normalization constants come from the training split.

    ``channels_last`` is the memory format the model trains in (``trainer.channels_last`` as the caller
    resolved it for the device), so batches arrive in the model's own format.
    """
    mean, std = channel_stats(splits.x_train)
    common = dict(device=device, mean=mean, std=std, channels_last=channels_last)
    if trainer.get("fast", True):
        cls = BatchLoader
    else:
        cls, common["num_workers"] = PlainLoader, trainer.get("workers")
    batch, eval_batch = int(trainer.batch_size), int(trainer.eval_batch_size)
    train = cls(splits.x_train, splits.y_train, batch, train=True, crop_padding=int(data.crop_padding),
                flip=bool(data.flip), seed=seed, drop_last=True, **common)
    val = cls(splits.x_val, splits.y_val, eval_batch, **common) if len(splits.y_val) else None
    test = cls(splits.x_test, splits.y_test, eval_batch, **common)
    return train, val, test
