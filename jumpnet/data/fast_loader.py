"""Serve batches from a split held whole in (device) memory as uint8.

Augmentation (zero-pad random crop, horizontal flip) and normalization run on
the whole batch at once, on the device, so the hot loop has no per-image
Python work. The distribution matches torchvision's ``RandomCrop(size,
padding=p)`` + ``RandomHorizontalFlip()`` + ``Normalize(mean, std)``.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def channel_stats(x_uint8: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (0..1 scale) of NHWC uint8 images: the normalization constants.

    A constant channel (std 0) would make every input NaN; its std is taken as one grey level instead."""
    x = x_uint8.reshape(-1, x_uint8.shape[-1]).astype(np.float64) / 255.0
    return x.mean(0).tolist(), np.maximum(x.std(0), 1 / 255).tolist()


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and crop back at a random offset per image (NCHW, one gather)."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=generator.device).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=generator.device).to(x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


class BatchLoader:
    """Batches of one split: shuffled and augmented for training, in order for evaluation."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device,
                 mean: list[float], std: list[float], train: bool = False, crop_padding: int = 0,
                 flip: bool = False, seed: int = 0, channels_last: bool = False, drop_last: bool = False):
        self.x = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous().to(device)
        self.y = torch.from_numpy(y).to(device)
        self.batch_size, self.device, self.train = batch_size, device, train
        self.crop_padding, self.flip = (crop_padding, flip) if train else (0, False)
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.drop_last = drop_last and len(self.y) > batch_size
        self.generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.y)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW -> augmented, normalized float in the chosen memory format."""
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, self.generator)
        if self.flip:
            x = random_flip(x, self.generator)
        x = (x.float().div_(255) - self.mean) / self.std
        return x.contiguous(memory_format=self.memory_format)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        if self.train:
            order = torch.randperm(n, generator=self.generator, device=self.generator.device).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.prepare(self.x[idx]), self.y[idx]
