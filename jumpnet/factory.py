"""Builds a model from the composed config: the one place configs become modules.

``resolve_model`` turns a config into a ``ModelSpec`` (class, arguments, and for a
matched arm the solved width) without reading data; ``build_model`` builds it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from jumpnet.matching import MATCHES, Match, match_width
from jumpnet.network import Network


def model_class(cfg: DictConfig) -> type[Network]:
    """The model class a config selects (its ``_target_``), without building it."""
    cls = get_class(cfg.model._target_)
    if not (isinstance(cls, type) and issubclass(cls, Network)):
        raise TypeError(f"model._target_={cfg.model._target_!r} is not a jumpnet.network.Network subclass")
    return cls


def ablation_kwargs(cfg: DictConfig) -> dict:
    """The ablation switches every model constructor takes (``ablation.match`` is the factory's own)."""
    ab = cfg.ablation
    return {"links": bool(ab.links), "merge": ab.merge, "head": ab.get("head"),
            "residual": bool(ab.get("residual", True))}


def arch_kwargs(cfg: DictConfig) -> dict:
    """The model's own metaparameters (its config minus ``name`` and ``_target_``), ``width_mult`` included."""
    arch = OmegaConf.to_container(cfg.model, resolve=True)
    arch = {k: v for k, v in arch.items() if k not in ("name", "_target_")}
    width = arch.get("width_mult", 1.0)
    try:
        arch["width_mult"] = float(width)
    except (TypeError, ValueError):
        raise ValueError(f"model.width_mult={width!r} must be a positive number (1.0: the published widths)") from None
    return arch


def data_kwargs(cfg: DictConfig) -> dict:
    return {"num_classes": int(cfg.data.num_classes), "in_chans": 3, "image_size": int(cfg.data.image_size)}


def check_config(cfg: DictConfig) -> None:
    """Reject bad metaparameters or a model/ablation combination before any data is read or layer built."""
    cls = model_class(cfg)
    cls.check_ablation(**ablation_kwargs(cfg))
    arch = arch_kwargs(cfg)
    if not (arch["width_mult"] > 0 and arch["width_mult"] < float("inf")):
        raise ValueError(f"model.width_mult={arch['width_mult']} must be a positive number (1.0: the published widths)")
    match = cfg.ablation.get("match")
    if match is not None and match not in MATCHES:
        raise ValueError(f"ablation.match={match!r} is unknown; choose null (no matching), params or macs")
    cls.check_arch(**arch)


@dataclass(frozen=True)
class ModelSpec:
    """What a config builds: the class, its arguments (for a matched arm at the solved width), the match."""

    target: str
    cls: type[Network]
    arch: dict                # cfg.model fields; width_mult is the width the model is built at
    ablation: dict
    data: dict
    match: Match = field(default_factory=Match)

    def build(self) -> Network:
        return instantiate({"_target_": self.target, **self.arch}, **self.data, **self.ablation, _convert_="all")

    def widths(self) -> dict:
        """The integer widths the model is built with (``width_mult`` applied)."""
        return self.cls.scaled_widths(**self.arch)

    def network_key(self) -> str:
        """Equal keys build equal networks: the class, its integer widths and the resolved ablation."""
        arch = {k: v for k, v in self.arch.items() if k != "width_mult"}
        return json.dumps({"target": self.target, "arch": {**arch, **self.widths()}, "data": self.data,
                           "ablation": self.cls.resolve_ablation(**self.ablation)}, sort_keys=True)

    def record(self) -> dict:
        """What ``metrics.json`` and ``describe`` say about the width: the configured one, the built one, the match."""
        return {"widths": self.widths(), **self.match.record()}


def resolve_model(cfg: DictConfig) -> ModelSpec:
    """Check the config and, for ``ablation.match``, solve the variant's width; reads no data, builds no weights."""
    check_config(cfg)
    cls, arch, ablation, data = model_class(cfg), arch_kwargs(cfg), ablation_kwargs(cfg), data_kwargs(cfg)
    target = cfg.model._target_

    def build_at(width: float, switches: dict) -> Network:
        return instantiate({"_target_": target, **arch, "width_mult": width}, **data, **switches, _convert_="all")

    match = match_width(cfg.ablation.get("match"), build_at, lambda w: cls.scaled_widths(**{**arch, "width_mult": w}),
                        arch["width_mult"], ablation, data["image_size"])
    return ModelSpec(target, cls, {**arch, "width_mult": match.width_mult}, ablation, data, match)


def build_model(cfg: DictConfig) -> Network:
    """Instantiate ``cfg.model`` with the data's shape and the ablation switches (a matched arm at its solved width)."""
    return resolve_model(cfg).build()
