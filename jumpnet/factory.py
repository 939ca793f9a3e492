"""Builds a model from the composed config: the one place configs become modules."""
from __future__ import annotations

import inspect

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from jumpnet.errors import ConfigError, JumpnetError, did_you_mean
from jumpnet.network import Network

# Constructor arguments the run supplies, never the model config.
SUPPLIED = ("num_classes", "in_chans", "image_size", "links", "merge", "head")


def model_class(cfg: DictConfig) -> type[Network]:
    """The model class a config selects (its ``_target_``), without building it."""
    try:
        cls = get_class(cfg.model._target_)
    except Exception as err:  # Hydra raises ImportError or ValueError for a target it cannot locate
        raise ConfigError(f"model._target_={cfg.model._target_!r} cannot be imported ({err})",
                          "give the dotted path of a jumpnet.network.Network subclass") from err
    if not (isinstance(cls, type) and issubclass(cls, Network)):
        raise ConfigError(f"model._target_={cfg.model._target_!r} is not a jumpnet.network.Network subclass")
    return cls


def ablation_kwargs(cfg: DictConfig) -> dict:
    """The ablation switches every model constructor takes (plain strings, not the schema's enums)."""
    ab = cfg.ablation
    plain = (lambda v: None if v is None else str(v))
    return {"links": bool(ab.links), "merge": plain(ab.merge), "head": plain(ab.get("head"))}


def arch_kwargs(cfg: DictConfig) -> dict:
    """The model's own metaparameters (its config minus ``name`` and ``_target_``)."""
    arch = OmegaConf.to_container(cfg.model, resolve=True)
    return {k: v for k, v in arch.items() if k not in ("name", "_target_")}


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
    check_arch_keys(cls, arch)
    try:
        cls.check_arch(**arch)
    except JumpnetError:
        raise
    except ValueError as err:  # the models' own checks name the field (model.groups[1]=...)
        raise ConfigError(f"model={cfg.model.name}: {err}") from err


def build_model(cfg: DictConfig) -> Network:
    """Instantiate ``cfg.model`` with the data's shape and the ablation switches."""
    check_config(cfg)
    arch = OmegaConf.to_container(cfg.model, resolve=True)
    arch.pop("name", None)
    try:
        return instantiate(arch, num_classes=int(cfg.data.num_classes), in_chans=3,
                           image_size=int(cfg.data.image_size), _convert_="all", **ablation_kwargs(cfg))
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, JumpnetError):
            raise cause from None
        if isinstance(cause, ValueError):  # a metaparameter the constructor rejects (DenseNet's depth, ...)
            raise ConfigError(f"model={cfg.model.name}: {cause}") from cause
        raise
