"""Training throughput, measured one way: ``metrics.json``'s ``throughput`` and ``make bench`` both use this.

A stretch of training steps is timed by wall clock, with CUDA synchronized at
both ends so that kernels still queued count in the stretch they belong to,
and the images its steps consumed are counted. Data loading inside the stretch
is part of the cost: throughput is end to end.
"""
from __future__ import annotations

import time

import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(images: int, seconds: float) -> float:
    return images / seconds if seconds > 0 else 0.0


class ImageTimer:
    """Wall time and image count of training steps: ``start()``, ``count(n)`` per batch, ``stop()``.

    ``stop()`` may be followed by another ``start()``; seconds and images accumulate.
    """

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self.images, self.seconds = 0, 0.0
        self._started: float | None = None

    def start(self) -> ImageTimer:
        synchronize(self.device)
        self._started = time.perf_counter()
        return self

    def count(self, n: int) -> None:
        self.images += int(n)

    def elapsed(self) -> float:
        """Seconds so far, without synchronizing (for progress lines, not for the record)."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self.seconds + running

    def stop(self) -> float:
        """Synchronize, close the stretch, and return the total seconds timed."""
        if self._started is None:
            raise RuntimeError("ImageTimer.stop() without start()")
        synchronize(self.device)
        self.seconds += time.perf_counter() - self._started
        self._started = None
        return self.seconds

    @property
    def images_per_s(self) -> float:
        return images_per_second(self.images, self.seconds)
