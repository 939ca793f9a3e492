"""Pre-activation ResNet for CIFAR (ResNet v2).

He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016
(arXiv 1603.05027). Every unit is BN-ReLU-conv (``PreActConv``); the identity
shortcut adds a block's input to its residual; a final BN-ReLU
(``PreActOutput``) precedes global pooling.

Layout: a 3x3 stem conv to 16 channels, then three stages of ``n`` blocks at
base widths 16, 32, 64 (the first block of stages 2 and 3 strides by 2):
- ``bottleneck=True`` (depth = 9n+2): BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 with
  4x expansion, stage outputs 64/128/256 channels;
- ``bottleneck=False`` (depth = 6n+2): two BN-ReLU-3x3 units, outputs 16/32/64.
Where a block changes width or resolution its shortcut is a 1x1 (strided)
projection of the block's pre-activated input (He et al.'s ``both_preact``: the
first unit's BN-ReLU is shared by the residual and the projection); elsewhere
the shortcut is the identity. Depth alone is ambiguous (164 = 9*18+2 = 6*27+2),
so the block type is its own field.

Two details differ between reference implementations; each is a switch, the
default the common one:
- ``stride_on`` (bottleneck blocks): where the first block of stages 2 and 3
  strides. ``"3x3"`` (default): on the 3x3 conv, as fb.resnet.torch's
  ``preresnet.lua`` and the common PyTorch ports (kuangliu/pytorch-cifar);
  ``"1x1"``: on the first 1x1 conv, as He's released ``resnet-pre-act.lua``
  (KaimingHe/resnet-1k-layers): same parameters, the 3x3 at half resolution
  (ResNet-164: 244.5M MACs instead of 247.6M). Basic blocks have no 1x1 and
  stride their first 3x3: ``"1x1"`` is rejected for them.
- ``shortcut``: what a block that changes width or resolution adds.
  ``"projection"`` (default): the 1x1 projection above (He et al. 2015's
  option B); ``"zero_pad"``: the parameter-free identity of the CIFAR
  ResNets (option A: the block's input subsampled by the stride, zero channels
  appended), ResNet-110 1,727,962 params (-2,560), ResNet-164 1,661,274
  (-41,984).

Initialization (``zero_init_last``, default on): the last conv of every block's residual path is zeroed, so each
block with a shortcut starts as that shortcut (Goyal et al. 2017; ``jumpnet.models.layers.zero_last_conv``).
Without it, He init makes each of ResNet-164's 54 residual branches add about the variance of its input to the
stream, and the smoke recipe (2 epochs, lr 0.05, batch 64) left the net at chance on the Intel Xeon (AMX) CPU:
train loss 2.28, val and test 10%, test loss 317. ``links=False`` blocks keep He init (nothing to start as).

Defaults (bias-free convs, 10 classes, 32x32 input):
- ResNet-164, bottleneck (``conf/model/resnet_v2.yaml``): 1,703,258 params,
  256x8x8 before pooling; the paper's Table 2/3 reports 1.7M.
- ResNet-110, basic (``conf/model/resnet_v2_110.yaml``): 1,730,522 params,
  64x8x8 before pooling; He et al. 2015/2016 report 1.7M.

Width (``width_mult``): the stem and the three base widths scale (rounded half
up; bottleneck outputs stay 4x the base); ``width_mult=1.0`` builds the nets above.

Ablation (``links``, ``merge``, ``residual``): the shortcuts are the links.
- ``merge="add"`` (own, the only merge): as published.
- ``merge="concat"``: not expressible (widths would double per block); rejected.
- ``links=False``: every shortcut removed, identities and projections alike: a
  plain pre-activation net of the same residual units, fewer params by exactly
  the projections: ResNet-164 1,661,274 (-41,984), ResNet-110 1,727,962 (-2,560).
- ``residual=False``: the blocks' identity adds are this model's links, so it
  removes exactly what ``links=False`` removes and builds the same network
  (sweeps keep one of them); ``merge`` must then be null.
"""
from __future__ import annotations

import torch
from torch import nn

from jumpnet.models.layers import PreActConv, PreActOutput, conv, merge, scale_width, zero_last_conv
from jumpnet.models.network import Network

STRIDE_ON = ("3x3", "1x1")           # bottleneck blocks: the conv that strides (model.stride_on)
SHORTCUTS = ("projection", "zero_pad")  # where shapes change: 1x1 projection (option B) or zero-padded identity (A)


class ZeroPadIdentity(nn.Module):
    """The parameter-free shortcut of the CIFAR ResNets (He et al. 2015, option A): the input subsampled by the
    stride, with zero channels appended up to the block's output width."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.extra, self.stride = out_ch - in_ch, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))


class ResBlock(nn.Module):
    """A pre-activation residual block: ``units`` on the residual path, and a shortcut when ``links``."""

    def __init__(self, in_ch: int, width: int, stride: int, bottleneck: bool, links: bool = True,
                 merge_mode: str = "add", bias: bool = False, stride_on: str = "3x3", shortcut: str = "projection"):
        super().__init__()
        out_ch = 4 * width if bottleneck else width
        if bottleneck:
            first, middle = (stride, 1) if stride_on == "1x1" else (1, stride)
            units = [PreActConv(in_ch, width, 1, first, bias), PreActConv(width, width, 3, middle, bias),
                     PreActConv(width, out_ch, 1, bias=bias)]
        else:
            units = [PreActConv(in_ch, width, 3, stride, bias), PreActConv(width, width, 3, bias=bias)]
        self.units = nn.Sequential(*units)
        self.project = links and (stride != 1 or in_ch != out_ch)
        self.shortcut = None if not self.project else ZeroPadIdentity(in_ch, out_ch, stride) \
            if shortcut == "zero_pad" else conv(in_ch, out_ch, 1, stride, bias)
        self.links = links
        self.merge_mode = merge_mode
        self.out_channels = out_ch

    def zero_init_last(self) -> None:
        """Start as the shortcut alone (``model.zero_init_last``): only a block with one (``links``)."""
        if self.links:
            zero_last_conv(self.units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.links:
            return self.units(x)
        if self.shortcut is None:
            return merge([x, self.units(x)], self.merge_mode)
        if isinstance(self.shortcut, ZeroPadIdentity):  # an identity: the block's input itself, not pre-activated
            return merge([self.shortcut(x), self.units(x)], self.merge_mode)
        first = self.units[0]
        act = first[1](first[0](x))  # the shared BN-ReLU (both_preact)
        residual = self.units[1:](first[2](act))
        return merge([self.shortcut(act), residual], self.merge_mode)


def blocks_per_stage(depth: int, bottleneck: bool) -> int:
    """``n`` from the depth (9n+2 for bottleneck blocks, 6n+2 for basic ones), or a ValueError."""
    per_block = 9 if bottleneck else 6
    if depth < per_block + 2 or (depth - 2) % per_block:
        kind, other = ("bottleneck", "basic") if bottleneck else ("basic", "bottleneck")
        raise ValueError(
            f"ResNetV2 depth={depth} is not valid for {kind} blocks: depth must be {per_block}n+2 with n >= 1 "
            f"(bottleneck: 9n+2, e.g. 164 or 1001; basic: 6n+2, e.g. 110); "
            f"set model.depth accordingly or model.bottleneck={str(not bottleneck).lower()} for {other} blocks")
    return (depth - 2) // per_block


class ResNetV2(Network):
    """Pre-activation ResNet for CIFAR: stem, three stages of residual blocks, BN-ReLU, task."""

    own_merge = "add"
    merges = ("add",)
    residual_removes = "links"

    @classmethod
    def check_arch(cls, stride_on: str = "3x3", shortcut: str = "projection", bottleneck: bool = True, **_) -> None:
        if stride_on not in STRIDE_ON:
            raise ValueError(f"model.stride_on={stride_on!r} is not one of {', '.join(STRIDE_ON)} (3x3: "
                             "fb.resnet.torch and PyTorch ports; 1x1: He's resnet-pre-act.lua)")
        if stride_on == "1x1" and not bottleneck:
            raise ValueError("model.stride_on=1x1 needs bottleneck blocks (basic blocks have no 1x1 conv: they stride "
                             "their first 3x3); set model.stride_on=3x3")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"model.shortcut={shortcut!r} is not one of {', '.join(SHORTCUTS)} (projection: a 1x1 "
                             "conv, option B; zero_pad: the parameter-free identity of the CIFAR ResNets, option A)")

    @classmethod
    def scaled_widths(cls, width_mult: float = 1.0, widths: tuple[int, ...] = (16, 32, 64), stem: int = 16,
                      **_) -> dict:
        return {"stem": scale_width(stem, width_mult), "widths": [scale_width(w, width_mult) for w in widths]}

    def __init__(self, depth: int = 164, bottleneck: bool = True, widths: tuple[int, ...] = (16, 32, 64),
                 stem: int = 16, conv_bias: bool = False, stride_on: str = "3x3", shortcut: str = "projection",
                 num_classes: int = 10, in_chans: int = 3, image_size: int = 32, links: bool = True,
                 merge: str | None = None, head: str | None = None, residual: bool = True, width_mult: float = 1.0,
                 zero_init_last: bool = True):
        n = blocks_per_stage(depth, bottleneck)
        self.check_arch(stride_on, shortcut, bottleneck)
        super().__init__(num_classes, in_chans, image_size, links, merge, head, residual)
        links = self.links = self.residual = links and residual  # no identity add is no shortcut at all here
        scaled = self.scaled_widths(width_mult, widths, stem)
        stem, widths = scaled["stem"], scaled["widths"]
        self.stem = conv(in_chans, stem, 3, bias=conv_bias)
        in_ch, stages = stem, []
        for s, width in enumerate(widths):
            blocks = []
            for b in range(n):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(ResBlock(in_ch, width, stride, bottleneck, links, self.merge_mode, conv_bias,
                                       stride_on, shortcut))
                in_ch = blocks[-1].out_channels
            stages.append(nn.Sequential(*blocks))
        self.learner = nn.Sequential(*stages)
        self.finish(in_ch, post=PreActOutput(in_ch), zero_init_last=zero_init_last)
