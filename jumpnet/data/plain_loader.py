"""The plain input pipeline: per-image torchvision transforms in DataLoader workers, fp32.

This is the loop most CIFAR code is written as (e.g. kuangliu/pytorch-cifar,
torchvision's ``CIFAR10`` dataset): each image becomes a PIL image, then
``RandomCrop(size, padding=p)`` -> ``RandomHorizontalFlip()`` -> ``ToTensor()``
-> ``Normalize(mean, std)``, one image at a time in worker processes, and the
collated batch is copied to the device. ``trainer.fast=false`` selects it and
``make bench`` measures the fast path (``jumpnet.data.fast_loader.BatchLoader``)
against it. Both draw from the same distribution (tests/test_fast_path.py).

Reproducibility: the shuffle *and* one augmentation seed per image are drawn
from ``.generator`` (saved in the checkpoint), and each image is augmented under
its own seed, whichever worker serves it. So a resumed run sees the same batches
with the same crops and flips as an uninterrupted one, and the number of workers
changes nothing. (A plain PyTorch loop seeds each worker's RNG when the workers
start, so after a resume its augmentation would be a different stream.)
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler, SequentialSampler
from torchvision import transforms


def default_workers() -> int:
    """``min(2, cores)``: two workers keep up with CPU training and with a GPU at CIFAR size."""
    return min(2, len(os.sched_getaffinity(0)))


def plain_transform(size: int, mean: list[float], std: list[float], crop_padding: int = 0,
                    flip: bool = False) -> Callable:
    """The classic per-image CIFAR transform (PIL image in, normalized CHW float tensor out)."""
    steps: list = []
    if crop_padding:
        steps.append(transforms.RandomCrop(size, padding=crop_padding))  # zero padding, as BatchLoader
    if flip:
        steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


class ArrayDataset(Dataset):
    """NHWC uint8 images and int labels, served one PIL image at a time through ``transform``."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform: Callable):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        """``key`` is an index, or ``(index, seed)``: then the random transforms draw from ``seed`` alone."""
        if isinstance(key, int):
            return self.transform(Image.fromarray(self.x[key])), int(self.y[key])
        i, seed = key
        with torch.random.fork_rng(devices=[]):  # the process's own RNG is left as it was
            torch.manual_seed(seed)
            return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


class SeededShuffle(Sampler):
    """A shuffled pass over ``n`` images, each with an augmentation seed; both come from ``generator``."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = torch.randperm(self.n, generator=self.generator)  # drawn at once, when the epoch starts
        seeds = torch.randint(0, 2 ** 62, (self.n,), generator=self.generator)
        return iter(zip(order.tolist(), seeds.tolist()))


class PlainLoader:
    """A ``DataLoader`` over one split, with the interface the Trainer uses from ``BatchLoader``:
    iteration yields ``(x, y)`` on ``device``; ``len()``, ``device``, ``batch_size``, ``num_images``,
    ``generator``."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, device: torch.device,
                 mean: list[float], std: list[float], train: bool = False, crop_padding: int = 0,
                 flip: bool = False, seed: int = 0, channels_last: bool = False, drop_last: bool = False,
                 num_workers: int | None = None):
        self.device, self.train, self.batch_size = torch.device(device), train, batch_size
        crop_padding, flip = (crop_padding, flip) if train else (0, False)
        self.dataset = ArrayDataset(x, y, plain_transform(x.shape[1], mean, std, crop_padding, flip))
        self.generator = torch.Generator().manual_seed(seed)  # the shuffle's; the sampler draws on the CPU
        sampler = SeededShuffle(len(y), self.generator) if train else SequentialSampler(self.dataset)
        workers = default_workers() if num_workers is None else int(num_workers)
        self.pin = self.device.type == "cuda"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.loader = DataLoader(self.dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                 persistent_workers=workers > 0, pin_memory=self.pin,
                                 drop_last=drop_last and len(y) > batch_size)

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_images(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=self.pin).contiguous(memory_format=self.memory_format)
            yield x, y.to(self.device, non_blocking=self.pin)
