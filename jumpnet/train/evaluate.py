"""Evaluation: loss and accuracy over a whole split in eval mode, with one batch shape throughout.

The loop validates with it every epoch and the pipeline tests with it once. Every batch is padded to the
loader's batch size (CUDA graphs and compiled models never see a new shape), and the padding is ignored.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import nn

from jumpnet.data.fast_loader import BatchLoader
from jumpnet.train.watchdog import heartbeat


def autocast_for(device: torch.device, enabled: bool):
    """bf16 autocast on ``device`` when ``enabled`` (``trainer.precision`` resolved to bf16; BN stays fp32)."""
    if enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def pad_batch(x: torch.Tensor, y: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a short batch to ``size`` images (zeros, in ``x``'s memory format) with label -100.

    -100 is ``cross_entropy``'s ``ignore_index`` and never equals an argmax, so
    padding changes neither the loss sum nor the count of correct predictions,
    while every evaluation batch keeps one shape (CUDA graphs never re-record).
    """
    n = len(y)
    if n >= size:
        return x, y
    fmt = torch.channels_last if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
        memory_format=torch.channels_last) else torch.contiguous_format
    padded = x.new_zeros((size, *x.shape[1:])).contiguous(memory_format=fmt)
    padded[:n] = x
    return padded, torch.cat([y, y.new_full((size - n,), -100)])


@torch.no_grad()
def evaluate(model: nn.Module, loader: BatchLoader, mixed: bool = False,
             forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the whole split, in eval mode.

    ``forward`` is the model or its compiled wrapper. Every batch has the
    loader's batch size (or the whole split, when smaller): the last one is
    padded and its padding ignored, so results equal those of unpadded batches.
    """
    forward = model if forward is None else forward
    was_training = model.training
    model.eval()
    size = min(int(loader.batch_size), loader.num_images)
    loss_sum = torch.zeros((), device=loader.device)
    correct = torch.zeros((), device=loader.device, dtype=torch.long)
    for x, y in loader:
        x, y = pad_batch(x, y, size)
        with autocast_for(loader.device, mixed):
            logits = forward(x)
        loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum", ignore_index=-100)
        correct += (logits.argmax(1) == y).sum()
        heartbeat()
    model.train(was_training)
    n = max(1, loader.num_images)
    return loss_sum.item() / n, correct.item() / n
