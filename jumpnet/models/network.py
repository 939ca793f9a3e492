"""The common shape of every model in the study: features, then a task head.

Every network is ``stem -> learner -> (optional final activation) -> task``
and takes the same constructor arguments (``num_classes``, ``in_chans``,
``image_size``, ``links``, ``merge``, ``head``, ``residual``, ``width_mult``), so
models are interchangeable in configs and measured the same way. The skip
connections under study are switched by ``links``, ``merge`` and ``residual``
(the blocks' own identity adds); each model declares which combinations it can
express, and anything else is rejected before a layer is built.
``width_mult`` scales each family's natural width (``scaled_widths``), so every
family can be measured at several budgets and a variant can be matched to its
``full`` arm's budget (``jumpnet.models.matching``).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from jumpnet.config.choices import HEADS, MERGES
from jumpnet.errors import AblationError
from jumpnet.models.layers import ClassifierHead, he_init

__all__ = ["AblationError", "Network"]


class Network(nn.Module):
    """Base class: subclasses build ``self.stem`` and ``self.learner`` then call ``finish``."""

    own_merge: ClassVar[str] = "concat"
    merges: ClassVar[tuple[str, ...]] = MERGES
    can_drop_links: ClassVar[bool] = True
    #: what ``residual=false`` removes: None when the blocks have no identity add (rejected),
    #: "blocks" (JumpNet: every block's identity add) or "links" (ResNet v2: the adds are its links)
    residual_removes: ClassVar[str | None] = None
    own_head: ClassVar[str] = "gap"

    def __init_subclass__(cls, **kwargs) -> None:
        """A family's merges and head are choices the schema defines (jumpnet/config/schema.py): a typo there fails
        when the family is defined, not when an arm happens to ask for it."""
        super().__init_subclass__(**kwargs)
        unknown = [m for m in cls.merges if m not in MERGES] + [h for h in (cls.own_head,) if h not in HEADS]
        if unknown:
            raise TypeError(f"{cls.__name__} names {unknown}: not among the schema's merges {list(MERGES)} "
                            f"or heads {list(HEADS)}")

    @classmethod
    def resolve_head(cls, head: str | None) -> str:
        """The task head an ablation asks for (null: the model's own)."""
        head = cls.own_head if head is None else head
        if head not in HEADS:
            raise AblationError(f"ablation.head={head!r} is unknown; choose one of {list(HEADS)} "
                                f"or null for the model's own ({cls.own_head!r})")
        return head

    @classmethod
    def check_arch(cls, **arch) -> None:
        """Reject bad metaparameters (``cfg.model`` fields) before data is read or a layer built."""

    @classmethod
    def scaled_widths(cls, width_mult: float = 1.0, **arch) -> dict:
        """The integer widths the constructor builds at ``width_mult`` (the ``cfg.model`` fields they replace)."""
        return {}

    @classmethod
    def resolve_ablation(cls, links: bool = True, merge: str | None = None, head: str | None = None,
                         residual: bool = True) -> tuple[bool, str, str, bool]:
        """The network an ablation builds, as ``(links, merge, head, residual)``: equal tuples, equal networks."""
        merge = cls.check_ablation(links, merge, head, residual)
        if cls.residual_removes == "links":  # ResNet v2: no identity add is the same as no links
            links = residual = links and residual
        return links, merge if links else "none", cls.resolve_head(head), residual

    @classmethod
    def check_ablation(cls, links: bool = True, merge: str | None = None, head: str | None = None,
                       residual: bool = True) -> str:
        """Validate an ablation for this model; return the merge it resolves to."""
        name = cls.__name__
        supported = f"{name} supports links=true with merge in {list(cls.merges)} (null = its own, {cls.own_merge!r})"
        if cls.can_drop_links:
            supported += ", or links=false with merge=null"
        cls.resolve_head(head)
        if not residual:
            if cls.residual_removes is None:
                raise AblationError(f"{name}'s blocks have no identity add to remove (ablation.residual=false); "
                                    f"it supports only residual=true", f"set ablation.residual=true. {supported}")
        dropped = "ablation.links=false"
        if not residual and cls.residual_removes == "links":  # the identity adds are this model's links
            links, dropped = False, f"ablation.residual=false (in {name} the same shortcuts as links=false)"
        if not links:
            if not cls.can_drop_links:
                raise AblationError(f"{name} has no links to drop (ablation.links=false)",
                                    f"set ablation.links=true. {supported}")
            if merge is not None:
                raise AblationError(f"ablation.merge={merge!r} has no meaning with {dropped}",
                                    f"set ablation.merge=null. {supported}")
            return cls.own_merge
        merge = cls.own_merge if merge is None else merge
        if merge not in cls.merges:
            raise AblationError(f"{name} cannot merge its links by {merge!r} (ablation.merge={merge})",
                                f"set ablation.merge to one of {list(cls.merges)} or null. {supported}")
        return merge

    def __init__(self, num_classes: int = 10, in_chans: int = 3, image_size: int = 32,
                 links: bool = True, merge: str | None = None, head: str | None = None, residual: bool = True):
        super().__init__()
        self.merge_mode = self.check_ablation(links, merge, head, residual)
        self.links = links
        self.residual = residual
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.image_size = image_size
        self.head_kind = self.resolve_head(head)

    def finish(self, num_features: int, post: nn.Module | None = None, zero_init_last: bool = False,
               **head_kwargs) -> None:
        """Attach the final activation and the task head, then initialise every layer: He init, and with
        ``zero_init_last`` (``model.zero_init_last``) each block that has a ``zero_init_last()`` method starts as
        its shortcut (``layers.zero_last_conv``)."""
        self.post = post if post is not None else nn.Identity()
        shape = (num_features, 1, 1)
        if self.head_kind == "fc":
            was_training = self.training
            self.eval()  # a probe must not touch BN statistics
            with torch.no_grad():
                probe = torch.zeros(1, self.in_chans, self.image_size, self.image_size)
                shape = tuple(self.features(probe).shape[1:])
            self.train(was_training)
        self.task = ClassifierHead(shape, self.num_classes, self.head_kind, **head_kwargs)
        he_init(self)
        if zero_init_last:
            for block in self.modules():
                if block is not self and callable(getattr(block, "zero_init_last", None)):
                    block.zero_init_last()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The tensor that enters the task head (global pooling, or the flatten of ``fc``)."""
        return self.post(self.learner(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.task(self.features(x))
