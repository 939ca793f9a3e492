"""A JumpNet whose forward pass never returns from a chosen step on: the stall watchdog's injected fault.

``JUMPNET_TEST_STALL_AT_STEP=N`` makes the N-th training forward (1-based, counted in this process) block
forever, as a kernel stuck in native code would; unset, the model is the plain JumpNet.
"""
from __future__ import annotations

import os
import threading

import torch

from jumpnet.models.jumpnet import JumpNet


class StallingJumpNet(JumpNet):
    forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            StallingJumpNet.forwards += 1
            stall_at = os.environ.get("JUMPNET_TEST_STALL_AT_STEP")
            if stall_at and StallingJumpNet.forwards >= int(stall_at):
                threading.Event().wait()  # blocks forever, like a hung OpenMP barrier
        return super().forward(x)
