"""DenseNet for CIFAR, and the dense-block machinery SparseNet reuses.

Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017 (arXiv 1608.06993). A stem 3x3 conv, three dense blocks
of ``N`` layers joined by transitions (``Transition``: BN-ReLU-1x1 conv, 2x2
average pooling), a final BN-ReLU (``PreActOutput``), then the task. Layer
``i`` of a block (1-based) reads the outputs ``rule(i)`` of the
layers before it, index 0 being the block input; for DenseNet that is every
one of them, ``[0, 1, ..., i-1]``, and the block hands on
``rule(N+1)``. A layer is BN-ReLU-3x3 conv to ``k`` channels, or with
``bottleneck`` BN-ReLU-1x1 conv to ``4k`` first (DenseNet-B).

Fields: ``depth`` L gives ``N = (L-4)/3`` layers per block (halved with
``bottleneck``, each layer then having two convs); ``growth_rate`` k;
``compression`` theta: a transition outputs ``floor(theta * C)`` of its C input
channels (DenseNet-C; 1.0 keeps the width); ``stem``: the stem's width, or null
for the paper's convention: 16 channels, or ``2k`` for DenseNet-BC.

Defaults (bias-free convs, 10 classes, 32x32 input):
- DenseNet-BC L=100 k=12 theta=0.5 stem 24 (``conf/model/densenet.yaml``):
  769,162 params, 342x8x8 before pooling; the paper's Table 2 reports 0.8M.
- DenseNet L=40 k=12 stem 16 (``conf/model/densenet40.yaml``): 1,019,722 params,
  448x8x8 before pooling; the paper reports 1.0M. (A 24-channel stem, as some
  public code uses, gives 1,059,298.)

Ablation (``links``, ``merge``): the links are the block's aggregation edges.
- ``merge="concat"`` (own): as published.
- ``merge="add"``: each layer reads the elementwise sum of the same outputs
  (for DenseNet: the running sum of the block input and every layer before).
  Widths are matched by running the whole learner at width k: one 1x1
  BN-ReLU-conv projects the stem's output to k, every layer still outputs k
  (its convs unchanged but for their input width), and each transition maps k
  to k (compression shrinks concatenated growth; a sum does not grow). The
  head sees k channels. Fewer parameters than concat.
- ``links=False``: a plain chain: each layer reads only its predecessor's output
  (the first layer the block input), the block hands on its last layer's output,
  and transitions map k to k as in ``add``. About as light as ``add``.

Width (``width_mult``): k scales (rounded half up) and so does every width
derived from it: the bottleneck's ``4k`` is rounded on its own (``round(4 k m)``,
not ``4 round(k m)``, so budgets move in finer steps) and a ``2k`` stem follows the
scaled k; a stem given as a number (or the plain net's 16) scales by the same
factor. ``width_mult=1.0`` builds exactly the nets above.

Parameter counts of the variants (10 classes): DenseNet-BC-100 full/concat
769,162, add 283,714, no_links 283,978; DenseNet-40 full/concat 1,019,722, add
48,666, no_links 48,882. The dense variants differ from concat in capacity as
much as in aggregation: read their accuracies with that in mind.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from jumpnet.models.layers import PreActConv, PreActOutput, Transition, conv, merge, scale_width
from jumpnet.models.network import Network

Rule = Callable[[int], list[int]]


def dense_inputs(i: int) -> list[int]:
    """DenseNet's rule: layer ``i`` reads the block input (0) and every earlier layer's output."""
    return list(range(i))


def chain_inputs(i: int) -> list[int]:
    """The plain chain (``links=False``): layer ``i`` reads only layer ``i-1`` (0: the block input)."""
    return [i - 1]


def dense_layer(in_ch: int, growth_rate: int, bottleneck_width: int | None, bias: bool = False) -> nn.Sequential:
    """One DenseNet layer: [BN-ReLU-1x1 to the bottleneck width (4k),] BN-ReLU-3x3 to k."""
    if bottleneck_width:
        return nn.Sequential(PreActConv(in_ch, bottleneck_width, 1, bias=bias),
                             PreActConv(bottleneck_width, growth_rate, 3, bias=bias))
    return nn.Sequential(PreActConv(in_ch, growth_rate, 3, bias=bias))


class DenseBlock(nn.Module):
    """``n_layers`` layers, layer ``i`` merging the outputs ``rule(i)``; the block hands on ``rule(n+1)``."""

    def __init__(self, in_ch: int, n_layers: int, growth_rate: int, bottleneck_width: int | None, rule: Rule,
                 merge_mode: str = "concat", bias: bool = False):
        super().__init__()
        widths = [in_ch] + [growth_rate] * n_layers

        def width(idx: list[int]) -> int:
            return sum(widths[j] for j in idx) if merge_mode == "concat" else growth_rate

        if merge_mode == "add" and in_ch != growth_rate:
            raise ValueError(f"an add-merged block needs input width k={growth_rate}, got {in_ch}")
        self.rule, self.merge_mode, self.n_layers = rule, merge_mode, n_layers
        self.layers = nn.ModuleList(
            [dense_layer(width(rule(i)), growth_rate, bottleneck_width, bias) for i in range(1, n_layers + 1)])
        self.out_channels = width(rule(n_layers + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for i, layer in enumerate(self.layers, start=1):
            outputs.append(layer(merge([outputs[j] for j in self.rule(i)], self.merge_mode)))
        return merge([outputs[j] for j in self.rule(self.n_layers + 1)], self.merge_mode)


def layers_per_block(name: str, depth: int, bottleneck: bool) -> int:
    """``N`` from the depth L: (L-4)/3, halved with bottleneck layers; a ValueError if it doesn't divide."""
    step = 6 if bottleneck else 3
    if depth < step + 4 or (depth - 4) % step:
        raise ValueError(f"{name} depth={depth} is not valid with bottleneck={str(bottleneck).lower()}: "
                         f"depth must be {step}n+4 with n >= 1 (3n+4 plain, e.g. 40; 6n+4 with bottleneck, e.g. 100)")
    return (depth - 4) // step


class DenseNet(Network):
    """DenseNet(-BC) for CIFAR: stem, dense blocks and transitions, BN-ReLU, task. See the module docstring."""

    own_merge = "concat"
    merges = ("concat", "add")

    #: which earlier outputs layer ``i`` of a block aggregates (0: the block input)
    rule: ClassVar[Rule] = staticmethod(dense_inputs)

    @staticmethod
    def default_stem(growth_rate: int, bottleneck: bool, width_mult: float) -> int:
        """``stem: null``: the paper's 2k for DenseNet-BC (following the scaled k), else 16 (scaled)."""
        return 2 * growth_rate if bottleneck else scale_width(16, width_mult)

    @classmethod
    def scaled_widths(cls, width_mult: float = 1.0, growth_rate: int = 12, bottleneck: bool = True,
                      stem: int | None = None, **_) -> dict:
        k = scale_width(growth_rate, width_mult)
        stem = scale_width(stem, width_mult) if stem is not None else cls.default_stem(k, bottleneck, width_mult)
        return {"growth_rate": k, "bottleneck_width": scale_width(4 * growth_rate, width_mult) if bottleneck else None,
                "stem": stem}

    def __init__(self, depth: int = 100, growth_rate: int = 12, bottleneck: bool = True,
                 compression: float = 0.5, stem: int | None = None, n_blocks: int = 3,
                 conv_bias: bool = False, num_classes: int = 10, in_chans: int = 3, image_size: int = 32,
                 links: bool = True, merge: str | None = None, head: str | None = None, residual: bool = True,
                 width_mult: float = 1.0):
        n = layers_per_block(type(self).__name__, depth, bottleneck)
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"compression={compression} must be in (0, 1]")
        super().__init__(num_classes, in_chans, image_size, links, merge, head, residual)
        widths = self.scaled_widths(width_mult, growth_rate, bottleneck, stem)
        k, bottleneck_width, stem_ch = widths["growth_rate"], widths["bottleneck_width"], widths["stem"]
        grows = links and self.merge_mode == "concat"
        rule = self.rule if links else chain_inputs
        self.stem = conv(in_chans, stem_ch, 3, bias=conv_bias)
        width, parts = stem_ch, []
        if links and not grows:  # add: the learner runs at width k
            parts.append(PreActConv(width, k, 1, bias=conv_bias))
            width = k
        for b in range(n_blocks):
            parts.append(DenseBlock(width, n, k, bottleneck_width, rule, self.merge_mode if links else "concat",
                                    conv_bias))
            width = parts[-1].out_channels
            if b < n_blocks - 1:
                out = int(math.floor(compression * width)) if grows else width
                parts.append(Transition(width, out, conv_bias))
                width = out
        self.learner = nn.Sequential(*parts)
        self.finish(width, post=PreActOutput(width))
