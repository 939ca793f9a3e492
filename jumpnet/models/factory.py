"""Builds a model from the composed config: the one place configs become modules.

``check_model`` checks a config's model and ablation once and turns it into a ``ModelSpec``
(class, arguments); ``solve_match`` solves a matched arm's width; ``resolve_model`` is both,
for tools; ``ModelSpec.build`` (or ``build_model``) builds it. Nothing here reads data.
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field, replace

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from jumpnet.config.choices import MODEL_DISPLAY
from jumpnet.errors import ConfigError, JumpnetError, did_you_mean
from jumpnet.models.cost import COSTS, code_version
from jumpnet.models.matching import WidthSolve, match_width
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

    ``ablation.match`` is the factory's own (``solve_match``), not a constructor argument.
    """
    ab = cfg.ablation
    def plain(v):
        return (None if v is None else str(v))
    return {"links": bool(ab.links), "merge": plain(ab.merge), "head": plain(ab.get("head")),
            "residual": bool(ab.get("residual", True))}


def arch_kwargs(cfg: DictConfig) -> dict:
    """The model's own metaparameters (its config minus ``name``, ``_target_`` and how reports show it,
    ``display``), ``width_mult`` included."""
    arch = OmegaConf.to_container(cfg.model, resolve=True)
    arch = {k: v for k, v in arch.items() if k not in ("name", "_target_", MODEL_DISPLAY)}
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
    """What a config builds: the class, its arguments (for a matched arm at the solved width), the width solve."""

    target: str
    name: str
    cls: type[Network]
    arch: dict                # cfg.model fields; width_mult is the width the model is built at
    ablation: dict            # the switches (plain strings): links, merge, head, residual
    data: dict
    solve: WidthSolve = field(default_factory=WidthSolve)

    def build(self) -> Network:
        return instantiate_model(self.target, self.name, self.arch, self.data, self.ablation)

    def at(self, width_mult: float, ablation: dict) -> ModelSpec:
        """The same model at another width, with other switches (unchecked: the width solve's probes)."""
        return replace(self, arch={**self.arch, "width_mult": width_mult}, ablation=ablation)

    def costs(self, what: str) -> int:
        """``params``, ``flops`` or ``macs`` per image of the network this spec builds, counted once per process
        for each distinct network (``cost.COSTS``)."""
        return COSTS.count(f"{self.network_key()} {code_version(self.cls)}", self.build, what,
                           int(self.data["image_size"]))

    def widths(self, width_mult: float | None = None) -> dict:
        """The integer widths the model is built with (``width_mult`` applied), or would be at ``width_mult``."""
        return self.cls.scaled_widths(**(self.arch if width_mult is None else {**self.arch, "width_mult": width_mult}))

    def key(self) -> str:
        """Equal keys are equal configs: the cache key of a width solve (which reads nothing else)."""
        return json.dumps([self.target, self.arch, self.ablation, self.data], sort_keys=True, default=str)

    def network_key(self) -> str:
        """Equal keys build equal networks: the class, its integer widths and the resolved ablation."""
        arch = {k: v for k, v in self.arch.items() if k != "width_mult"}
        return json.dumps({"target": self.target, "arch": {**arch, **self.widths()}, "data": self.data,
                           "ablation": self.cls.resolve_ablation(**self.ablation)}, sort_keys=True)

    def record(self) -> dict:
        """What ``metrics.json`` and ``describe`` say about the width: the integer widths built, the match."""
        return {"widths": self.widths(), **self.solve.record()}


def check_model(cfg: DictConfig) -> ModelSpec:
    """The model checks, once: the class, the model x ablation combination, the width and every ``model.*`` key.

    Returns the spec at the configured width; a matched arm's width is solved by :func:`solve_match`. Run before
    any data is read or layer built. (``ablation.match`` is a closed choice of the schema, checked when composed.)
    """
    cls = model_class(cfg)
    ablation = ablation_kwargs(cfg)
    cls.check_ablation(**ablation)
    arch = arch_kwargs(cfg)
    if not 0 < arch["width_mult"] < float("inf"):
        raise ConfigError(f"model.width_mult={arch['width_mult']} must be a positive number",
                          "1.0 builds the published widths; 0.5 halves them")
    check_arch_keys(cls, arch)
    try:
        cls.check_arch(**arch)
    except JumpnetError:
        raise
    except ValueError as err:  # the models' own checks name the field (model.groups[1]=...)
        raise ConfigError(f"model={cfg.model.name}: {err}") from err
    return ModelSpec(cfg.model._target_, cfg.model.get("name", cfg.model._target_), cls, arch, ablation,
                     data_kwargs(cfg), WidthSolve(width_mult=arch["width_mult"]))


def solve_match(spec: ModelSpec, match: str | None, solved: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """``spec`` at the width ``ablation.match`` asks for (itself when null); checks nothing (:func:`check_model` did).

    ``solved`` caches the outcome by config (model x ablation x data), so a sweep solves each matched arm once.
    """
    if match is None:
        return spec
    key = json.dumps([spec.key(), match])
    if solved is not None and key in solved:
        return solved[key]
    width = spec.arch["width_mult"]
    solve = match_width(match, lambda w, switches: spec.at(w, switches).costs(match), spec.widths, width,
                        spec.ablation)
    out = replace(spec, arch={**spec.arch, "width_mult": solve.width_mult}, solve=solve)
    if solved is not None:
        solved[key] = out
    return out


def resolve_model(cfg: DictConfig) -> ModelSpec:
    """The model checks and, for ``ablation.match``, the width solve (reads no data, builds no weights): what
    ``describe`` and the tools need. A run gets its spec from ``jumpnet.run.spec.resolve_run`` instead."""
    match = cfg.ablation.get("match")
    return solve_match(check_model(cfg), None if match is None else str(match))


def build_model(cfg: DictConfig) -> Network:
    """Instantiate ``cfg.model`` with the data's shape and the ablation switches (a matched arm at its solved width)."""
    return resolve_model(cfg).build()
