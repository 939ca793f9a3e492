"""JumpNet (Ferlitsch, 2020): a procedural CNN with group jump links.

The code follows the design pattern the paper draws: ``stem`` (two 3x3
conv-BN-ReLU), ``learner`` (a sequence of ``JumpGroup``), each a run of
pre-activation bottleneck ``Block``s, and ``task`` (global average pooling,
linear). The new idea is the group jump link: a group's input, BN then a
strided 1x1 conv (the *shortcut*), is concatenated with the group's output
after BN-ReLU-strided-1x1 (the *feature pooling*). Width doubles per group while
the maps halve.

Metaparameters are data: ``stem`` widths, ``stem_stride`` and ``groups`` as
``(n_filters, n_blocks)`` pairs. Presets (CIFAR, 50, 101, 152) are config files
in ``conf/model/``. The CIFAR default (stem 16,32 at stride 1; groups (32,3),
(64,4), (128,3)) has 810,714 trainable parameters with bias-free convs (813,418
with ``conv_bias=True``) and hands a 256x4x4 map to global pooling on 32x32 input.

Width (``width_mult``): the stem's two widths scale (rounded half up), and the
groups follow the stem's last width, doubling per group as the design requires,
so the widths always chain; ``width_mult=1.0`` builds exactly the net above.

Ablation (``links``, ``merge``, ``residual``); in every variant a group still hands
the next group ``2 * n_filters`` channels, so the macro shape is unchanged:
- ``merge="concat"`` (own): shortcut and pooling each give ``n_filters``; concatenated.
- ``merge="add"``: shortcut and pooling each project to ``2 * n_filters``; summed.
- ``links=False``: no shortcut; the pooling conv alone projects to ``2 * n_filters``.
- ``residual=False``: every block loses its identity add (``x + f(x)`` becomes
  ``f(x)``): what ResNet v2's ``links=False`` removes. Parameters are unchanged.
  With ``links=False`` too, no shortcut of any kind is left (``ablation=no_shortcuts``).

Initialization: He-normal convolutions, and (``zero_init_last=True``, the default) the last 1x1 conv of every
block that adds its input zeroed, so each block starts as the identity (``jumpnet.models.layers.zero_last_conv``;
Goyal et al. 2017). ``residual=False`` blocks keep He init: they have no identity to start as.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from jumpnet.models.layers import BNConv, ConvBNReLU, PreActConv, merge, scale_width, zero_last_conv
from jumpnet.models.network import Network


class Block(nn.Module):
    """Pre-activation bottleneck (BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1) with identity add, all at one width.

    ``identity=False`` drops the add (the ``residual=false`` ablation): the block is its residual path alone.
    """

    def __init__(self, width: int, bias: bool = False, identity: bool = True):
        super().__init__()
        self.identity = identity
        self.residual = nn.Sequential(
            PreActConv(width, width, 1, bias=bias),
            PreActConv(width, width, 3, bias=bias),
            PreActConv(width, width, 1, bias=bias),
        )

    def zero_init_last(self) -> None:
        """Start as the identity (``model.zero_init_last``): only a block that adds its input."""
        if self.identity:
            zero_last_conv(self.residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x) if self.identity else self.residual(x)


class JumpGroup(nn.Module):
    """A group of blocks whose input jumps over them to its (strided) output."""

    def __init__(self, in_ch: int, n_filters: int, n_blocks: int, stride: int = 2,
                 links: bool = True, merge_mode: str = "concat", bias: bool = False, residual: bool = True):
        super().__init__()
        if in_ch != n_filters:
            raise ValueError(f"a group's input width must equal its n_filters, got {in_ch} != {n_filters}")
        out_ch = 2 * n_filters
        branch_ch = n_filters if (links and merge_mode == "concat") else out_ch
        self.merge_mode = merge_mode
        self.blocks = nn.Sequential(*[Block(n_filters, bias, residual) for _ in range(n_blocks)])
        self.pool = PreActConv(n_filters, branch_ch, 1, stride=stride, bias=bias)
        self.jump = BNConv(in_ch, branch_ch, 1, stride=stride, bias=bias) if links else None
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(self.blocks(x))
        if self.jump is None:
            return pooled
        return merge([self.jump(x), pooled], self.merge_mode)


def check_groups(stem: Sequence[int], groups: Sequence[Sequence[int]]) -> None:
    """Reject group metaparameters whose widths don't chain, naming the group and the widths."""
    if len(stem) != 2:
        raise ValueError(f"model.stem must give two widths (two 3x3 convs), got {list(stem)}")
    if not groups:
        raise ValueError("model.groups is empty: give at least one (n_filters, n_blocks) pair")
    width = stem[-1]
    for i, group in enumerate(groups):
        if len(group) != 2:
            raise ValueError(f"model.groups[{i}]={list(group)} must be a (n_filters, n_blocks) pair")
        n_filters, n_blocks = group
        if n_filters != width:
            raise ValueError(
                f"model.groups[{i}]=({n_filters}, {n_blocks}) receives {width} channels "
                f"but expects n_filters={n_filters}: each group's input width must equal its n_filters "
                f"(the stem's last width for group 0, twice the previous group's n_filters after it). "
                f"Set n_filters={width} or change the previous group.")
        if n_blocks < 0:
            raise ValueError(f"model.groups[{i}] has n_blocks={n_blocks}; it must be >= 0")
        width = 2 * n_filters


class JumpNet(Network):
    """JumpNet: stem, learner of jump-linked groups, task. See the module docstring."""

    own_merge = "concat"
    merges = ("concat", "add")
    residual_removes = "blocks"

    @classmethod
    def check_arch(cls, stem: Sequence[int] = (16, 32), groups: Sequence[Sequence[int]] = ((32, 3), (64, 4), (128, 3)),
                   **_) -> None:
        check_groups(stem, groups)

    @classmethod
    def scaled_widths(cls, width_mult: float = 1.0, stem: Sequence[int] = (16, 32),
                      groups: Sequence[Sequence[int]] = ((32, 3), (64, 4), (128, 3)), **_) -> dict:
        """Stem widths scaled; each group's n_filters follows the stem's last width, doubling per group."""
        first, last = (scale_width(w, width_mult) for w in stem)
        return {"stem": [first, last], "groups": [[last * 2 ** i, n] for i, (_, n) in enumerate(groups)]}

    def __init__(self, stem: Sequence[int] = (16, 32), stem_stride: int = 1,
                 groups: Sequence[Sequence[int]] = ((32, 3), (64, 4), (128, 3)),
                 conv_bias: bool = False, num_classes: int = 10, in_chans: int = 3,
                 image_size: int = 32, links: bool = True, merge: str | None = None, head: str | None = None,
                 residual: bool = True, width_mult: float = 1.0, zero_init_last: bool = True):
        check_groups(stem, groups)
        super().__init__(num_classes, in_chans, image_size, links, merge, head, residual)
        widths = self.scaled_widths(width_mult, stem, groups)
        stem, groups = widths["stem"], widths["groups"]
        self.stem = nn.Sequential(
            ConvBNReLU(in_chans, stem[0], 3, stride=stem_stride, bias=conv_bias),
            ConvBNReLU(stem[0], stem[1], 3, bias=conv_bias),
        )
        width, layers = stem[1], []
        for n_filters, n_blocks in groups:
            layers.append(JumpGroup(width, n_filters, n_blocks, 2, links, self.merge_mode, conv_bias, residual))
            width = layers[-1].out_channels
        self.learner = nn.Sequential(*layers)
        self.finish(width, zero_init_last=zero_init_last)
