"""SparseNet for CIFAR: DenseNet with exponentially sparse aggregation.

Zhu, Deng, Maire, Deng, Mori, Tan, "Sparsely Aggregated Convolutional
Networks", ECCV 2018 (arXiv 1801.05895; code: github.com/Lyken17/SparseNet).
Layer ``i`` of a block aggregates, by concatenation, only the outputs at
exponential offsets ``i-1, i-2, i-4, i-8, ...`` that exist, the block input
counting as output 0 (``aggregated_inputs``); the block hands on
``aggregated_inputs(N+1)``, as the released code's ``expFetch`` does. So a layer
reads O(log i) outputs instead of DenseNet's i. Everything else (layers,
transitions, ``depth``/``growth_rate``/``bottleneck``/``compression``/``stem``
fields, ablation variants, width matching and ``width_mult``) is ``baselines.densenet``'s.

The JumpNet draft cites Liu & Zeng's "SparseNet: A Sparse DenseNet for Image
Classification" (arXiv 1804.05340) but describes Zhu's exponential rule; we
implement Zhu's.

Default SparseNet-40-24 (no bottleneck, no compression, ``N`` = 12 layers per
block, ``conf/model/sparsenet.yaml``): 748,522 params for 10 classes, 96x8x8
entering pooling (outputs 12, 11, 9, 5 of the last block). The published
counts are for CIFAR-100 (the authors' README at github.com/Lyken17/SparseNet,
CIFAR-100 table) and all three are reproduced, within 0.4%, by a ``2k``-wide stem (the
convention of DenseNet-BC and of the Keras port) with a 100-class head:

| model | published | 2k stem, 100 cl. | k stem, 100 cl. |
|---|---|---|---|
| SparseNet-40-24 | 0.76M | 757,252 | 735,676 |
| SparseNet-100-36 | 5.65M | 5,645,908 | 5,574,520 |
| SparseNet-BC-100-24 | 1.46M | 1,461,124 | 1,448,716 |

The released PyTorch code's ``k``-wide stem (726,946 params for 10 classes)
misses all three at their printed precision (0.74M, 5.57M, 1.45M), so
``stem: null`` means ``2k`` here. The BC variant is a config override
(``bottleneck: true``, ``compression: 0.5``).

Ablation variants of the default (10 classes): full/concat 748,522; ``add``
192,442 and ``links=False`` 196,426 (both run the learner at width k = 24, as
``baselines.densenet`` explains; the head sees 24 channels). ``add`` sums the
same exponentially chosen outputs that concat would join.
"""
from __future__ import annotations

from typing import ClassVar

from baselines.densenet import DenseNet, Rule


def aggregated_inputs(i: int) -> list[int]:
    """Which earlier outputs layer ``i`` (1-based) aggregates: each ``i - 2**m >= 0``, nearest first.

    Output 0 is the block input; ``aggregated_inputs(N + 1)`` is what a block of N layers hands on.
    """
    if i < 1:
        raise ValueError(f"layers are numbered from 1, got {i}")
    out, offset = [], 1
    while i - offset >= 0:
        out.append(i - offset)
        offset *= 2
    return out


class SparseNet(DenseNet):
    """SparseNet: a DenseNet whose layers aggregate outputs at exponential offsets. See the module docstring."""

    rule: ClassVar[Rule] = staticmethod(aggregated_inputs)

    @staticmethod
    def default_stem(growth_rate: int, bottleneck: bool, width_mult: float) -> int:
        """``stem: null``: 2k (following the scaled k), with or without bottleneck layers."""
        return 2 * growth_rate

    def __init__(self, depth: int = 40, growth_rate: int = 24, bottleneck: bool = False,
                 compression: float = 1.0, stem: int | None = None, n_blocks: int = 3,
                 conv_bias: bool = False, num_classes: int = 10, in_chans: int = 3, image_size: int = 32,
                 links: bool = True, merge: str | None = None, head: str | None = None, residual: bool = True,
                 width_mult: float = 1.0):
        super().__init__(depth, growth_rate, bottleneck, compression, stem, n_blocks, conv_bias,
                         num_classes, in_chans, image_size, links, merge, head, residual, width_mult)
