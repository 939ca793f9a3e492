"""The config's types: one dataclass per group, registered in Hydra's ConfigStore as ``schema/<name>``.

Each yaml of a schematized group names its schema first in its defaults list
(``conf/data/cifar10.yaml``: ``- /schema/data@_here_``; ``conf/config.yaml``:
``- /schema/trainer@trainer``), so Hydra checks every value when the config is
composed: ``trainer.epochs=abc``, a mistyped key (``trainer.epoch=2``) or a typo
in a closed choice (``trainer.schedule=cosin``, an enum here) fails before
anything runs. What a type cannot say (``trainer.lr > 0``; fields that mix bools
and strings, such as ``trainer.channels_last: auto|true|false``, which OmegaConf
2.3 cannot type as a Union) is declared beside the field with :func:`spec` and
checked by :func:`check_fields`. ``model`` stays free-form: each family has its
own metaparameters, checked against its constructor (``jumpnet.models.factory``).

Every closed choice of the project is defined once, in ``jumpnet.config.choices``,
and imported wherever it is used. Which keys leave a run's identity unchanged
(ablator's "stateless" fields) is declared here: a field marked ``spec(...,
identity=False)`` and the keys in ``choices.NEUTRAL_KEYS`` change how or where a run
trains, logs and writes, never what it measures. ``jumpnet.config.naming``
derives from them the keys run folder names leave out, and the sweeper, ``plan``,
``status`` and the report read that one mark.

To add a field: add it to its dataclass here (type, default, ``spec`` for a
range, choices or ``identity=False``) and document it in the yaml that sets it
(``conf/config.yaml`` for trainer). A new group option (``conf/data/svhn.yaml``)
starts its defaults list with ``- /schema/data@_here_``.
"""
from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from jumpnet.config.choices import (
    CHANNELS_LAST,
    COMPILE_MODES,
    Device,
    GroupBy,
    Head,
    Match,
    Merge,
    Precision,
    Progress,
    Schedule,
    WandbMode,
    spelled,
)
from jumpnet.errors import ConfigError, did_you_mean


def spec(default: Any, *, ge: float | None = None, gt: float | None = None, lt: float | None = None,
         choices: tuple | None = None, identity: bool = True, why: str = "") -> Any:
    """A field with a default and the bounds (or, for mixed bool/str fields, the choices) its value must meet.

    ``identity=False``: the field changes how a run trains or where it writes, not what it measures (a sweep resumed
    with another value continues in the same run folders; the report does not split runs by it).
    """
    return field(default=default, metadata={"ge": ge, "gt": gt, "lt": lt, "choices": choices, "identity": identity,
                                            "why": why})


@dataclass
class TrainerConf:
    """``trainer``: how one run trains (each field is documented in conf/config.yaml)."""

    epochs: int = spec(30, ge=1)
    batch_size: int = spec(128, ge=2, why="BatchNorm needs 2 images")
    eval_batch_size: int = spec(512, ge=1)
    lr: float = spec(0.1, gt=0)
    weight_decay: float = spec(5.0e-4, ge=0)
    schedule: Schedule = Schedule.cosine
    milestones: List[float] = field(default_factory=lambda: [0.5, 0.75])
    gamma: float = spec(0.1, gt=0)
    warmup_epochs: float = spec(0.0, ge=0)
    label_smoothing: float = spec(0.0, ge=0, lt=1)
    early_stopping: Optional[int] = spec(None, ge=1)
    device: Device = spec(Device.auto, identity=False)
    fast: bool = True
    compile: Any = spec(False, choices=(False, True, *COMPILE_MODES), identity=False)  # true: torch's default
    channels_last: Any = spec("auto", choices=CHANNELS_LAST)
    precision: Precision = Precision.auto
    resume: bool = spec(True, identity=False)
    overwrite: bool = spec(False, identity=False)
    deterministic: bool = False
    init_draws: int = spec(1, ge=1)
    init_steps: int = spec(20, ge=1)
    workers: Optional[int] = spec(None, ge=0)
    threads: Optional[int] = spec(None, ge=1, identity=False)
    progress: Progress = spec(Progress.auto, identity=False)
    stall_timeout_s: Optional[float] = spec(1800.0, gt=0, identity=False)
    runs_per_gpu: int = spec(1, ge=1, identity=False)


@dataclass
class DataConf:
    """``data``: a dataset and how it is split and augmented (conf/data/cifar10.yaml documents each field)."""

    name: str = MISSING
    # Where the data is read from, not what it is: a run folder checks what it is by its data_id (jumpnet.data).
    root: str = spec("data", identity=False)
    download: bool = spec(True, identity=False)
    archive: Optional[str] = spec(None, identity=False)
    num_classes: int = spec(10, ge=2)
    image_size: int = spec(32, ge=1)
    val_size: int = spec(5000, ge=0, why="0 selects the last epoch")
    train_subset: Optional[int] = spec(None, ge=1)
    test_subset: Optional[int] = spec(None, ge=1)
    crop_padding: int = spec(4, ge=0, why="0 turns cropping off")
    flip: bool = True


@dataclass
class SyntheticDataConf(DataConf):
    """``data=synthetic``: seeded random images, sized by the config."""

    download: bool = spec(False, identity=False)
    train_size: int = spec(512, ge=1)
    test_size: int = spec(256, ge=1)


@dataclass
class AblationConf:
    """``ablation``: the architectural switches every model takes (conf/ablation/*.yaml)."""

    name: str = MISSING
    links: bool = True
    merge: Optional[Merge] = None       # null: the model's own
    head: Optional[Head] = None         # null: the model's own
    match: Optional[Match] = None       # null, or solve the width so this budget equals the full arm's
    residual: bool = True               # JumpNet/ResNet: keep the identity path of a block


@dataclass
class LoggerConf:
    """``logger=none``: no tracker. No logger field changes what a run measures: ``logger`` is in NEUTRAL_KEYS."""

    name: str = MISSING


@dataclass
class WandbLoggerConf(LoggerConf):
    """``logger=wandb`` (conf/logger/wandb.yaml documents each field)."""

    mode: WandbMode = WandbMode.offline
    project: str = "jumpnet-ablation"
    entity: Optional[str] = None
    group: Optional[str] = None         # null: from group_by
    group_by: GroupBy = GroupBy.arm     # arm: one group per arm (its seeds), experiment: one per sweep
    tags: List[str] = field(default_factory=list)
    log_checkpoint: bool = False


EQUAL_BUDGET = "equal_budget"  # plan.primary: the equal-budget ranking of the families (Table 3)


@dataclass
class PlanConf:
    """``plan``: the study's design, read by ``make plan`` (power) and the report (which tests form the primary
    family). Nothing here changes what a run measures: every field is ``identity=False``."""

    primary: List[str] = field(default_factory=list, metadata={"identity": False})  # model:variant | equal_budget
    target_delta: float = spec(0.3, gt=0, identity=False, why="percentage points")
    sigma: float = spec(0.2, gt=0, identity=False, why="percentage points")
    budgets: List[float] = field(default_factory=list, metadata={"identity": False})


def primary_family(entries: Any) -> tuple[list[tuple[str, str]], bool]:
    """``plan.primary`` read: the (model, variant) comparisons with ``full``, and whether the equal-budget ranking
    is in the family; a ConfigError naming an entry that is neither ``model:variant`` nor ``equal_budget``."""
    pairs, ranking = [], False
    for entry in list(entries or []):
        text = str(entry)
        model, _, variant = text.partition(":")
        if text == EQUAL_BUDGET:
            ranking = True
        elif model and variant and ":" not in variant:
            pairs.append((model, variant))
        else:
            raise ConfigError(f"plan.primary entry {text!r} is neither model:variant nor {EQUAL_BUDGET}",
                              f"e.g. plan.primary=[jumpnet:no_links,jumpnet:add_matched] or [{EQUAL_BUDGET}]")
    return pairs, ranking


SCHEMAS = {"trainer": TrainerConf, "data": DataConf, "synthetic_data": SyntheticDataConf,
           "ablation": AblationConf, "logger": LoggerConf, "wandb_logger": WandbLoggerConf, "plan": PlanConf}
for _name, _node in SCHEMAS.items():
    ConfigStore.instance().store(group="schema", name=_name, node=_node, provider="jumpnet")

GROUP_SCHEMAS = {"trainer": (TrainerConf,), "data": (DataConf, SyntheticDataConf), "ablation": (AblationConf,),
                 "logger": (LoggerConf, WandbLoggerConf), "plan": (PlanConf,)}
TYPED_GROUPS = tuple(GROUP_SCHEMAS)


def _fields(node: Any) -> dict[str, dataclasses.Field]:
    """The schema fields of a group's node, by name; empty for a node without a schema (a user's own yaml)."""
    kind = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
    return {f.name: f for f in dataclasses.fields(kind)} if dataclasses.is_dataclass(kind) else {}


def _check_value(key: str, value: Any, meta: dict) -> None:
    if meta.get("choices") is not None:
        choices = meta["choices"]
        if not any(value is c if isinstance(c, bool) else value == c for c in choices):
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(spelled(choices))}"
                              f"{did_you_mean(value, map(str, choices))}")
        return
    if value is None or isinstance(value, bool):
        return
    why = f" ({meta['why']})" if meta.get("why") else ""
    for bound, words, ok in (("ge", ">=", operator.ge), ("gt", ">", operator.gt), ("lt", "<", operator.lt)):
        if meta.get(bound) is not None and not ok(value, meta[bound]):
            raise ConfigError(f"{key}={value} must be {words} {meta[bound]}{why}")


SEEDS = 2**32  # numpy seeds its generator with a 32-bit integer; a run's folder name holds the seed as typed


def _check_name(key: str, value: Any) -> None:
    """A value that names a folder: a non-empty string that is one path component (not what YAML reads as a number,
    a bool or null: ``name=2024`` is an int, ``name=null`` would make a folder ``None``)."""
    if isinstance(value, str) and value.strip() and "/" not in value and value not in (".", ".."):
        return
    kind = {bool: "a bool", int: "an integer", float: "a number", type(None): "null"}.get(type(value), "a string")
    said = f"YAML reads it as {kind}" if not isinstance(value, str) else "it must be one folder name"
    raise ConfigError(f"{key}={value!r} is not a name ({said}): it names the run's folder",
                      f"give {key} a word, quoted if it looks like a number: {key}=\"'{value}'\"" if value not in
                      (None, "") and not isinstance(value, str) else f"give {key} a word without '/', e.g. {key}=study")


def check_identity(cfg: Any) -> None:
    """The values a run folder's path is made of, checked before the folder exists (the folder-name resolver and
    every validation pass call this): ``name`` and ``model.name`` are names, ``0 <= seed < 2**32``."""
    _check_name("name", cfg.get("name"))
    model = cfg.get("model")
    if model is not None and hasattr(model, "get"):
        _check_name("model.name", model.get("name"))
    seed = cfg.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed={seed!r} must be an integer", "e.g. seed=0")
    if not 0 <= seed < SEEDS:
        raise ConfigError(f"seed={seed} must be >= 0 and < 2**32", "e.g. seed=0")


def check_fields(cfg: DictConfig) -> None:
    """Keys the schema does not know (added with ``+``) and values outside their declared range or choices."""
    check_identity(cfg)
    for group in TYPED_GROUPS:
        node, known = cfg.get(group), _fields(cfg.get(group))
        for key in node.keys() if known else ():
            if key not in known:
                hint = did_you_mean(f"{group}.{key}", [f"{group}.{k}" for k in known])
                raise ConfigError(f"{group}.{key} is not a {group} field{hint}",
                                  "remove it (a leading + adds keys that the schema, jumpnet/config/schema.py, "
                                  "does not know)")
        for name, f in known.items():
            if f.metadata and f.default_factory is dataclasses.MISSING:  # a list's marks are identity only
                _check_value(f"{group}.{name}", node[name], f.metadata)
    if cfg.get("plan") is not None:
        primary_family(cfg.plan.get("primary"))
