"""A plain CNN: the floor every skip-connected model is measured against.

The classic VGG-style stack (Simonyan & Zisserman, "Very Deep Convolutional
Networks for Large-Scale Image Recognition", ICLR 2015), with batch norm
(Ioffe & Szegedy 2015): stages of 3x3 conv-BN-ReLU (``ConvBNReLU``) each
followed by 2x2 max pooling; no skip connections at all. The first conv is the
``stem``, the rest the ``learner``.

Default (``conf/model/plain_cnn.yaml``; stages (32, 32), (64, 64), (128, 128);
bias-free convs; 10 classes; 32x32 input): 128x4x4 leaves the last pool.
- its own head, fully connected (``ablation=full``; flatten, FC ``fc_hidden``=256,
  ReLU, dropout 0.5, FC): 814,570 params, 3.1 MiB fp32, near JumpNet's 810,714.
- ``ablation=head_gap`` (global average pooling + linear, JumpNet's task): 288,746 params.

Width (``width_mult``): every conv width scales (rounded half up); the fc head's
hidden layer (``fc_hidden``) does not. ``width_mult=1.0`` builds the net above.

Ablation: a plain CNN has no links, so only links=true with merge=null and
residual=true (``full``, ``head_fc``, ``head_gap``) describes it; ``no_links`` and
``no_residual`` would be the same network and ``add``/``concat`` have nothing to
merge: all are rejected.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from jumpnet.config.choices import HEADS
from jumpnet.models.layers import ConvBNReLU, scale_width
from jumpnet.models.network import AblationError, Network


class PlainCNN(Network):
    """Stages of conv-BN-ReLU then max pooling, then the task. See the module docstring."""

    own_merge = "none"
    merges = ()
    can_drop_links = False
    own_head = "fc"

    @classmethod
    def scaled_widths(cls, width_mult: float = 1.0, stages: Sequence[Sequence[int]] = ((32, 32), (64, 64), (128, 128)),
                      **_) -> dict:
        return {"stages": [[scale_width(w, width_mult) for w in stage] for stage in stages]}

    @classmethod
    def check_ablation(cls, links: bool = True, merge: str | None = None, head: str | None = None,
                       residual: bool = True) -> str:
        """Accept only links=true with merge=null and residual=true (``ablation=full``): there are no links to vary."""
        cls.resolve_head(head)
        if not links or merge is not None or not residual:
            asked = (f"ablation.links={str(links).lower()} with ablation.merge={'null' if merge is None else merge}"
                     + ("" if residual else " and ablation.residual=false"))
            raise AblationError(
                f"{cls.__name__} has no links, so {asked} means nothing",
                f"use ablation=full (or head_gap): {cls.__name__} supports only links=true with merge=null, "
                f"with head in {list(HEADS)}")
        return cls.own_merge

    def __init__(self, stages: Sequence[Sequence[int]] = ((32, 32), (64, 64), (128, 128)),
                 fc_hidden: int = 256, dropout: float = 0.5, conv_bias: bool = False,
                 num_classes: int = 10, in_chans: int = 3, image_size: int = 32,
                 links: bool = True, merge: str | None = None, head: str | None = None, residual: bool = True,
                 width_mult: float = 1.0):
        if not stages or not all(stages):
            raise ValueError(f"model.stages={[list(s) for s in stages]} must be non-empty lists of conv widths")
        if image_size % 2 ** len(stages):
            raise ValueError(f"image_size={image_size} must be divisible by 2**{len(stages)} (one max pool per stage)")
        super().__init__(num_classes, in_chans, image_size, links, merge, head, residual)
        stages = self.scaled_widths(width_mult, stages)["stages"]
        widths = [w for stage in stages for w in stage]
        self.stem = ConvBNReLU(in_chans, widths[0], 3, bias=conv_bias)
        width, layers = widths[0], []
        for s, stage in enumerate(stages):
            for w in stage[1:] if s == 0 else stage:
                layers.append(ConvBNReLU(width, w, 3, bias=conv_bias))
                width = w
            layers.append(nn.MaxPool2d(2))
        self.learner = nn.Sequential(*layers)
        self.finish(width, hidden=fc_hidden, dropout=dropout)
