"""Builds a model from the composed config: the one place configs become modules."""
from __future__ import annotations

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from jumpnet.network import Network


def model_class(cfg: DictConfig) -> type[Network]:
    """The model class a config selects (its ``_target_``), without building it."""
    cls = get_class(cfg.model._target_)
    if not (isinstance(cls, type) and issubclass(cls, Network)):
        raise TypeError(f"model._target_={cfg.model._target_!r} is not a jumpnet.network.Network subclass")
    return cls


def ablation_kwargs(cfg: DictConfig) -> dict:
    """The ablation switches every model constructor takes."""
    ab = cfg.ablation
    return {"links": bool(ab.links), "merge": ab.merge, "head": ab.get("head")}


def arch_kwargs(cfg: DictConfig) -> dict:
    """The model's own metaparameters (its config minus ``name`` and ``_target_``)."""
    arch = OmegaConf.to_container(cfg.model, resolve=True)
    return {k: v for k, v in arch.items() if k not in ("name", "_target_")}


def check_config(cfg: DictConfig) -> None:
    """Reject bad metaparameters or a model/ablation combination before any data is read or layer built."""
    cls = model_class(cfg)
    cls.check_ablation(**ablation_kwargs(cfg))
    cls.check_arch(**arch_kwargs(cfg))


def build_model(cfg: DictConfig) -> Network:
    """Instantiate ``cfg.model`` with the data's shape and the ablation switches."""
    check_config(cfg)
    arch = OmegaConf.to_container(cfg.model, resolve=True)
    arch.pop("name", None)
    return instantiate(arch, num_classes=int(cfg.data.num_classes), in_chans=3,
                       image_size=int(cfg.data.image_size), _convert_="all", **ablation_kwargs(cfg))
