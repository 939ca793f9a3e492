"""Building blocks shared by every model in the study.

Each block exists once, here, so that JumpNet and the baselines differ only in
how they connect blocks (the thing under study), never in how a block is typed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from jumpnet.config.choices import HEADS, MERGES, Head, Merge


def scale_width(width: int, width_mult: float) -> int:
    """``width * width_mult`` rounded half up, at least 1: ``model.width_mult=1.0`` leaves every width as it is."""
    return max(1, int(math.floor(width * width_mult + 0.5)))


def conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """A 'same'-padded convolution; bias-free by default because BN follows or precedes it."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias)


class ConvBNReLU(nn.Sequential):
    """Post-activation unit (conv-BN-ReLU): stems and the plain CNN."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, bias: bool = False):
        super().__init__(conv(in_ch, out_ch, kernel, stride, bias), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class PreActConv(nn.Sequential):
    """Pre-activation unit (BN-ReLU-conv) of ResNet v2, DenseNet, SparseNet and JumpNet."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, bias: bool = False):
        super().__init__(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True), conv(in_ch, out_ch, kernel, stride, bias))


class BNConv(nn.Sequential):
    """BN then conv with no ReLU: JumpNet's group shortcut (the jump link's projection)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, bias: bool = False):
        super().__init__(nn.BatchNorm2d(in_ch), conv(in_ch, out_ch, kernel, stride, bias))


class Transition(nn.Sequential):
    """DenseNet/SparseNet transition: BN-ReLU-1x1 conv then 2x2 average pooling."""

    def __init__(self, in_ch: int, out_ch: int, bias: bool = False):
        super().__init__(PreActConv(in_ch, out_ch, 1, bias=bias), nn.AvgPool2d(2))


class PreActOutput(nn.Sequential):
    """The final BN-ReLU of a pre-activation net, applied before the classifier pools."""

    def __init__(self, channels: int):
        super().__init__(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


def merge(tensors: Sequence[torch.Tensor], how: str) -> torch.Tensor:
    """Merge skip-connected tensors by channel concatenation or elementwise sum."""
    if len(tensors) == 1:
        return tensors[0]
    if how == Merge.concat:
        return torch.cat(list(tensors), dim=1)
    if how == Merge.add:
        out = tensors[0]
        for t in tensors[1:]:
            out = out + t
        return out
    raise ValueError(f"unknown merge {how!r}; choose one of {MERGES}")


class GlobalAvgPool(nn.Module):
    """Mean over H and W, keeping 1x1: ``AdaptiveAvgPool2d(1)``'s result, with a deterministic CUDA backward
    (``trainer.deterministic=true``: torch has no deterministic kernel for AdaptiveAvgPool2d's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3), keepdim=True)


class ClassifierHead(nn.Module):
    """The task component: pooled features to class logits.

    ``gap``: global average pooling then one linear layer (Network in Network,
    JumpNet's task). ``fc``: flatten then a hidden fully connected layer with
    ReLU and dropout, then the linear classifier (LeNet/VGG style).
    """

    def __init__(self, feature_shape: Sequence[int], num_classes: int, head: str = "gap",
                 hidden: int = 256, dropout: float = 0.5):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; choose one of {HEADS}")
        channels, height, width = feature_shape
        self.head = head
        if head == Head.gap:
            self.layers = nn.Sequential(GlobalAvgPool(), nn.Flatten(), nn.Linear(channels, num_classes))
        else:
            self.layers = nn.Sequential(
                nn.Flatten(), nn.Linear(channels * height * width, hidden), nn.ReLU(inplace=True),
                nn.Dropout(dropout), nn.Linear(hidden, num_classes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def he_init(module: nn.Module) -> None:
    """He-normal convolutions (fan-in, as Keras' he_normal), unit BN, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def zero_last_conv(branch: nn.Module) -> None:
    """Zero the weights of a residual branch's last convolution, so that its block starts as the identity.

    Goyal et al. 2017 ("Accurate, Large Minibatch SGD") zero the last BN's gamma of each residual branch; in a
    pre-activation block (BN-ReLU-conv) that BN feeds a ReLU at 0, whose gradient is 0, so the branch would never
    wake: the last conv is zeroed instead (timm's pre-activation blocks do the same). Its weight gradient is the
    branch's (non-zero) input times the block's gradient, so the branch starts learning at the first step; the
    parameter count is unchanged. Only for a branch that is added to its block's input (an identity or projection
    shortcut): a branch that is the whole block would pass nothing on.
    """
    last = [m for m in branch.modules() if isinstance(m, nn.Conv2d)][-1]
    nn.init.zeros_(last.weight)
