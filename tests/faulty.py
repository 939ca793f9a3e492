"""A JumpNet with an injected fault, chosen by ``JUMPNET_TEST_FAULT`` (unset: the plain JumpNet).

- ``nan_eval``: every evaluation forward returns NaN logits (a NaN validation loss with a finite training loss);
- ``constant_eval``: evaluation returns zero logits, so validation accuracy never improves (early stopping);
- ``inf_grad_at:N``: the N-th training step (1-based, per model) back-propagates an infinite gradient, so the
  weights become non-finite although that step's loss is finite;
- ``interrupt_at:N``: the N-th training step raises KeyboardInterrupt, as Ctrl-C would;
- ``sigterm_at:N``: the N-th training step sends this process SIGTERM, as ``timeout`` or ``docker stop`` would;
- ``raise_at:N``: the N-th training step raises RuntimeError (a run that fails before it saved anything);
- ``wait_for:PATH``: the first training step waits until PATH exists (a run held busy while a test looks on).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch

from jumpnet.models.jumpnet import JumpNet


class _InfiniteGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad * float("inf")


class FaultyJumpNet(JumpNet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind, _, at = os.environ.get("JUMPNET_TEST_FAULT", "").partition(":")
        if not self.training:
            if kind == "nan_eval":
                return super().forward(x) * float("nan")
            if kind == "constant_eval":
                return torch.zeros(len(x), self.num_classes)
            return super().forward(x)
        self.steps += 1
        if kind == "interrupt_at" and self.steps == int(at):
            raise KeyboardInterrupt
        if kind == "sigterm_at" and self.steps == int(at):
            os.kill(os.getpid(), signal.SIGTERM)
        if kind == "raise_at" and self.steps == int(at):
            raise RuntimeError(f"injected fault at training step {at}")
        while kind == "wait_for" and self.steps == 1 and not Path(at).exists():
            time.sleep(0.05)
        out = super().forward(x)
        return _InfiniteGradient.apply(out) if kind == "inf_grad_at" and self.steps == int(at) else out
