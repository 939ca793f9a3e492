"""One validation pass: a composed config becomes a typed ``RunSpec``, or an error naming the value and the fix.

Types, single-field ranges and closed choices live in the schema (``jumpnet/config/schema.py``: most
fail when the config is composed, the rest in :func:`jumpnet.config.schema.check_fields`); the model's own
metaparameters and the model x ablation combination in :func:`jumpnet.models.factory.check_model`; this
module adds what spans several fields and what the filesystem decides, and runs the three once, in
:func:`resolve_run`. Everything downstream (the pipeline, the trainer, the lottery, the sweeper) takes the
spec or plain values and checks nothing again. The device is a setting here: it is claimed where the job
runs (``resolve_device``), since the sweeper's machine may have no GPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from jumpnet.config.naming import ablation_label
from jumpnet.config.schema import check_fields
from jumpnet.data.archive import check_archive
from jumpnet.errors import ConfigError
from jumpnet.models.factory import ModelSpec, check_model, solve_match
from jumpnet.run.gpus import claim_gpu

__all__ = ["ConfigError", "RunSpec", "check_device_visible", "check_run_config", "resolve_device", "resolve_run"]


@dataclass(frozen=True, eq=False)
class RunSpec:
    """A checked run: its config, the model it builds (a matched arm's width solved) and its ablation label."""

    cfg: DictConfig       # the composed config, checked; steps read their group (trainer, data, ...) from it
    model: ModelSpec      # what the run builds, at the solved width
    label: str            # the ablation label (``jumpnet.config.naming``): folder, record, W&B, report

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    @property
    def width_mult(self) -> float:
        """The configured ``model.width_mult`` (a matched arm is built at ``model.solve.width_mult``)."""
        return float(self.cfg.model.get("width_mult", 1.0))


def _require(ok: bool, message: str, fix: str | None = None) -> None:
    if not ok:
        raise ConfigError(message, fix)


def check_cross_fields(cfg: DictConfig) -> None:
    """What spans several fields, or needs the filesystem: the rules no single field's type can state."""
    t, d = cfg.trainer, cfg.data
    _require(float(t.warmup_epochs) < int(t.epochs),
             f"trainer.warmup_epochs={t.warmup_epochs} leaves nothing of trainer.epochs={t.epochs} to the schedule",
             "lower trainer.warmup_epochs or raise trainer.epochs")
    if t.schedule == "step":
        bad = [m for m in t.milestones if not 0 < float(m) < 1]
        _require(not bad, f"trainer.milestones={list(t.milestones)}: {bad} not fractions of training in (0, 1)",
                 "e.g. trainer.milestones=[0.5,0.75] divides lr by 1/gamma at 50% and 75% of the epochs")
    _require(not (t.early_stopping and int(d.val_size) == 0),
             f"trainer.early_stopping={t.early_stopping} needs a validation split, but data.val_size=0",
             "set data.val_size > 0 or trainer.early_stopping=null")
    classes = int(d.num_classes)
    for key in ("train_subset", "test_subset"):
        n = d.get(key)
        _require(n is None or int(n) >= classes,
                 f"data.{key}={n} is fewer images than data.num_classes={classes}: a stratified slice needs at least "
                 f"one image of each class", f"set data.{key} to {classes} or more (or null for the whole split)")
    archive = d.get("archive")
    _require(not archive or Path(archive).expanduser().is_file(),
             f"data.archive={archive!r} does not exist",
             "point data.archive (or JUMPNET_DATA_ARCHIVE) at a tar of an ImageFolder tree, "
             "or set data.archive=null to use torchvision's dataset")
    if archive:
        check_archive(archive)  # readable, and a tar: a wrong file fails here, not after the run folder is made


def check_run_config(cfg: DictConfig) -> ModelSpec:
    """Every check that needs no data, once: the schema's fields, model x ablation, the cross-field rules.

    Returns the model at its configured width (unsolved); :func:`resolve_run` is this plus the width solve.
    """
    check_fields(cfg)
    model = check_model(cfg)
    check_cross_fields(cfg)
    return model


def resolve_run(cfg: DictConfig, solved: dict[str, ModelSpec] | None = None) -> RunSpec:
    """The one validation pass: check ``cfg`` and solve a matched arm's width; reads no data, builds no weights.

    ``solved`` caches width solves by model x ablation x data (``factory.solve_match``): a sweep passes one
    dict for all its arms, so a matched arm is solved once, not once per seed.
    """
    model = check_run_config(cfg)
    match = cfg.ablation.get("match")
    return RunSpec(cfg, solve_match(model, None if match is None else str(match), solved), ablation_label(cfg.ablation))


def check_device_visible(setting: str) -> None:
    """``trainer.device=cuda`` where no GPU is visible fails here, before a run folder is made (not in a record)."""
    _require(str(setting) != "cuda" or torch.cuda.is_available(),
             "trainer.device=cuda but no CUDA device is visible here", "use trainer.device=auto or cpu")


def resolve_device(setting: str, runs_per_gpu: int = 1) -> torch.device:
    """The device a job trains on; checked where the job runs (a login node may have no GPU).

    With several GPUs visible, or several runs allowed per GPU (``trainer.runs_per_gpu``),
    the job claims a free slot on the least busy GPU (``jumpnet.run.gpus``).
    """
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    check_device_visible(setting)
    if setting == "cuda" and (torch.cuda.device_count() > 1 or runs_per_gpu > 1):
        index = claim_gpu(torch.cuda.device_count(), per_gpu=runs_per_gpu)
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device(str(setting))
