"""Builds a model from the composed config: the one place configs become modules.

``resolve_model`` turns a config into a ``ModelSpec`` (class, arguments, and for a
matched arm the solved width) without reading data; ``build_model`` builds it.
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from jumpnet.errors import ConfigError, JumpnetError, did_you_mean
from jumpnet.models.matching import MATCHES, Match, match_width
from jumpnet.models.network import Network

# Constructor arguments the run supplies, never the model config.
SUPPLIED = ("num_classes", "in_chans", "image_size", "links", "merge", "head", "residual")


def model_class(cfg: DictConfig) -> type[Network]:
    """The model class a config selects (its ``_target_``), without building it."""
    try:
        cls = get_class(cfg.model._target_)
    except Exception as err:  # Hydra raises ImportError or ValueError for a target it cannot locate
        raise ConfigError(f"model._target_={cfg.model._target_!r} cannot be imported ({err})",
                          "give the dotted path of a jumpnet.models.network.Network subclass") from err
    if not (isinstance(cls, type) and issubclass(cls, Network)):
        raise ConfigError(f"model._target_={cfg.model._target_!r} is not a jumpnet.models.network.Network subclass")
    return cls


def ablation_kwargs(cfg: DictConfig) -> dict:
    """The ablation switches every model constructor takes (plain strings, not the schema's enums).

    ``ablation.match`` is the factory's own (``resolve_model``), not a constructor argument.
    """
    ab = cfg.ablation
    def plain(v):
        return (None if v is None else str(v))
    return {"links": bool(ab.links), "merge": plain(ab.merge), "head": plain(ab.get("head")),
            "residual": bool(ab.get("residual", True))}


def arch_kwargs(cfg: DictConfig) -> dict:
    """The model's own metaparameters (its config minus ``name`` and ``_target_``), ``width_mult`` included."""
    arch = OmegaConf.to_container(cfg.model, resolve=True)
    arch = {k: v for k, v in arch.items() if k not in ("name", "_target_")}
    width = arch.get("width_mult", 1.0)
    try:
        arch["width_mult"] = float(width)
    except (TypeError, ValueError):
        raise ConfigError(f"model.width_mult={width!r} must be a positive number",
                          "1.0 builds the published widths; 0.5 halves them") from None
    return arch


def data_kwargs(cfg: DictConfig) -> dict:
    return {"num_classes": int(cfg.data.num_classes), "in_chans": 3, "image_size": int(cfg.data.image_size)}


def check_arch_keys(cls: type[Network], arch: dict) -> None:
    """Every ``model.*`` key must be a constructor argument: the model group is free-form, this is its schema."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [f"model.{n}" for n in params if n not in ("self", *SUPPLIED)]
    for key in arch:
        if f"model.{key}" not in known:
            raise ConfigError(f"model.{key} is not a parameter of {cls.__name__}{did_you_mean(f'model.{key}', known)}",
                              f"{cls.__name__} takes {', '.join(known)}")


def check_config(cfg: DictConfig) -> None:
    """Reject bad metaparameters or a model/ablation combination before any data is read or layer built."""
    cls = model_class(cfg)
    cls.check_ablation(**ablation_kwargs(cfg))
    arch = arch_kwargs(cfg)
    if not 0 < arch["width_mult"] < float("inf"):
        raise ConfigError(f"model.width_mult={arch['width_mult']} must be a positive number",
                          "1.0 builds the published widths; 0.5 halves them")
    match = cfg.ablation.get("match")
    if match is not None and match not in MATCHES:
        raise ConfigError(f"ablation.match={match!r} is unknown", "choose null (no matching), params or macs")
    check_arch_keys(cls, arch)
    try:
        cls.check_arch(**arch)
    except JumpnetError:
        raise
    except ValueError as err:  # the models' own checks name the field (model.groups[1]=...)
        raise ConfigError(f"model={cfg.model.name}: {err}") from err


def instantiate_model(target: str, name: str, arch: dict, data: dict, ablation: dict) -> Network:
    """Build one model; a constructor's own ValueError becomes a one-line ConfigError naming the model."""
    try:
        return instantiate({"_target_": target, **arch}, **data, **ablation, _convert_="all")
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, JumpnetError):
            raise cause from None
        if isinstance(cause, ValueError):  # a metaparameter the constructor rejects (DenseNet's depth, ...)
            raise ConfigError(f"model={name}: {cause}") from cause
        raise


@dataclass(frozen=True)
class ModelSpec:
    """What a config builds: the class, its arguments (for a matched arm at the solved width), the match."""

    target: str
    name: str
    cls: type[Network]
    arch: dict                # cfg.model fields; width_mult is the width the model is built at
    ablation: dict
    data: dict
    match: Match = field(default_factory=Match)

    def build(self) -> Network:
        return instantiate_model(self.target, self.name, self.arch, self.data, self.ablation)

    def widths(self) -> dict:
        """The integer widths the model is built with (``width_mult`` applied)."""
        return self.cls.scaled_widths(**self.arch)

    def network_key(self) -> str:
        """Equal keys build equal networks: the class, its integer widths and the resolved ablation."""
        arch = {k: v for k, v in self.arch.items() if k != "width_mult"}
        return json.dumps({"target": self.target, "arch": {**arch, **self.widths()}, "data": self.data,
                           "ablation": self.cls.resolve_ablation(**self.ablation)}, sort_keys=True)

    def record(self) -> dict:
        """What ``metrics.json`` and ``describe`` say about the width: the integer widths built, the match."""
        return {"widths": self.widths(), **self.match.record()}


def resolve_model(cfg: DictConfig) -> ModelSpec:
    """Check the config and, for ``ablation.match``, solve the variant's width; reads no data, builds no weights."""
    check_config(cfg)
    cls, arch, ablation, data = model_class(cfg), arch_kwargs(cfg), ablation_kwargs(cfg), data_kwargs(cfg)
    target, name = cfg.model._target_, cfg.model.get("name", cfg.model._target_)

    def build_at(width: float, switches: dict) -> Network:
        return instantiate_model(target, name, {**arch, "width_mult": width}, data, switches)

    match = cfg.ablation.get("match")
    solved = match_width(None if match is None else str(match), build_at,
                         lambda w: cls.scaled_widths(**{**arch, "width_mult": w}), arch["width_mult"], ablation,
                         data["image_size"])
    return ModelSpec(target, name, cls, {**arch, "width_mult": solved.width_mult}, ablation, data, solved)


def build_model(cfg: DictConfig) -> Network:
    """Instantiate ``cfg.model`` with the data's shape and the ablation switches (a matched arm at its solved width)."""
    return resolve_model(cfg).build()
