"""``trainer.compile``: which ``torch.compile`` mode a run trains with, and the model it wraps.

``false`` (default): eager PyTorch. ``default``: TorchInductor's fused kernels.
``max-autotune``: Inductor also benchmarks kernel variants (minutes of compile
time, for the fastest steps). ``reduce-overhead``: Inductor plus CUDA graphs, so
a step is replayed as one graph instead of hundreds of small launches: the
remedy for small CIFAR networks that leave a GPU waiting on its CPU. Graphs
need static shapes, which the loaders guarantee (training drops its ragged
last batch; ``jumpnet.train.loop.evaluate`` pads its last batch). On the CPU
CUDA graphs do not apply and ``reduce-overhead`` compiles as ``default``.
``true`` is accepted as ``default``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from jumpnet.config.choices import COMPILE_MODES, spelled
from jumpnet.errors import ConfigError


def compile_mode(setting: Any) -> str | None:
    """The mode named by a ``trainer.compile`` value, None for eager; a ConfigError naming the choices."""
    if setting is None or setting is False or str(setting).lower() in ("false", "none", "off"):
        return None
    if setting is True or str(setting).lower() == "true":
        return "default"
    if setting in COMPILE_MODES:
        return str(setting)
    raise ConfigError(f"trainer.compile={setting!r} is unknown",
                      f"choose one of {', '.join(spelled((False, *COMPILE_MODES)))}")


def compile_model(model: nn.Module, mode: str | None, backend: str = "inductor") -> Callable[..., torch.Tensor]:
    """``model`` itself (eager) or its ``torch.compile`` wrapper, which shares its parameters.

    ``backend`` other than inductor (``aot_eager``) exercises graph capture
    without generating kernels: what ``gpucheck --tiny`` uses on a CPU.
    """
    if mode is None:
        return model
    if backend != "inductor":
        return torch.compile(model, backend=backend)
    return torch.compile(model, mode=None if mode == "default" else mode)


def uses_cuda_graphs(mode: str | None, device: torch.device) -> bool:
    return mode == "reduce-overhead" and device.type == "cuda"


def mark_step(mode: str | None, device: torch.device) -> None:
    """Tell CUDA graph trees a new step begins, so the previous step's outputs may be overwritten."""
    if uses_cuda_graphs(mode, device):
        torch.compiler.cudagraph_mark_step_begin()
