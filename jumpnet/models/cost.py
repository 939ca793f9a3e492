"""What a model costs: parameters, FLOPs/MACs, the map entering the head, weight size."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

TRAIN_FLOPS_PER_FORWARD = 3  # a training image costs its forward and a backward of about twice the forward


def count_params(model: nn.Module) -> int:
    """Trainable parameters (BN running statistics are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def weight_size_mb(model: nn.Module) -> float:
    """fp32 size in MiB of everything a state_dict holds (parameters and BN statistics)."""
    floats = sum(t.numel() for t in model.state_dict().values() if t.is_floating_point())
    return floats * 4 / 2**20


@torch.no_grad()
def measure(model: nn.Module, image_size: int, in_chans: int = 3) -> dict:
    """Measure one image's forward pass on the CPU, in eval mode, at batch size 1.

    FLOPs follow ``torch.utils.flop_counter`` (2 per multiply-add, convolutions and
    matmuls only); ``macs`` is FLOPs / 2, the number CIFAR papers call "FLOPs".
    """
    was_training = model.training
    model.eval()
    x = torch.zeros(1, in_chans, image_size, image_size, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    feature_map = list(model.features(x).shape[1:])
    model.train(was_training)
    flops = int(counter.get_total_flops())
    return {
        "params": count_params(model),
        "flops": flops,
        "macs": flops // 2,
        "feature_map": feature_map,
        "size_mb": round(weight_size_mb(model), 4),
    }


@torch.no_grad()
def forward_flops(build: Callable[[], nn.Module], image_size: int, in_chans: int = 3) -> int:
    """``measure``'s ``flops`` without allocating or initializing weights: the model is built on the meta device.

    Shapes alone decide the count, so this is exact and fast (``make plan`` prices every arm with it).
    """
    with torch.device("meta"):
        model = build().eval()
        x = torch.zeros(1, in_chans, image_size, image_size)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    return int(counter.get_total_flops())
