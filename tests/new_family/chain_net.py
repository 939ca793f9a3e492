"""ChainNet: a model family defined outside the package, to prove that a family is one class and one YAML.

A stem conv, then ``blocks`` conv-BN-ReLU units of one width, each with a link
that adds the unit's input to its output (a residual chain, He et al. 2016, at
toy size). ``ablation.links=false`` (``no_links``) drops every link; ``add`` is
its own and only merge. The run supplies ``num_classes``, ``in_chans``,
``image_size`` and the ablation switches; ``width`` and ``blocks`` come from its
YAML (``model/chain_net.yaml`` beside this file), ``width_mult`` scales ``width``.
"""
from __future__ import annotations

import torch
from torch import nn

from jumpnet.models.layers import ConvBNReLU, merge, scale_width
from jumpnet.models.network import Network


class LinkedUnits(nn.Module):
    """``blocks`` units of one width; with ``links`` each unit's input is added to its output."""

    def __init__(self, width: int, blocks: int, links: bool):
        super().__init__()
        self.units = nn.ModuleList(ConvBNReLU(width, width) for _ in range(blocks))
        self.links = links

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for unit in self.units:
            x = merge([unit(x), x], "add") if self.links else unit(x)
        return x


class ChainNet(Network):
    """Stem, a chain of linked units, global pooling and a linear classifier (the ``Network`` contract's task)."""

    own_merge = "add"
    merges = ("add",)

    @classmethod
    def scaled_widths(cls, width_mult: float = 1.0, width: int = 8, **_) -> dict:
        return {"width": scale_width(width, width_mult)}

    def __init__(self, width: int = 8, blocks: int = 2,
                 num_classes: int = 10, in_chans: int = 3, image_size: int = 32,
                 links: bool = True, merge: str | None = None, head: str | None = None, residual: bool = True,
                 width_mult: float = 1.0):
        super().__init__(num_classes, in_chans, image_size, links, merge, head, residual)
        width = self.scaled_widths(width_mult, width)["width"]
        self.stem = ConvBNReLU(in_chans, width)
        self.learner = LinkedUnits(width, blocks, links)
        self.finish(width)
