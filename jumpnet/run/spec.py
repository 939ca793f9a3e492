"""Reject bad configs before any work starts, with a message naming the value and the fix.

Types, single-field ranges and closed choices live in the schema (``jumpnet/config/schema.py``: most
fail when the config is composed, the rest in :func:`jumpnet.config.schema.check_fields`); this module
adds what spans several fields, the model's own metaparameters, and what the filesystem decides.
"""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from jumpnet.config.schema import check_fields
from jumpnet.errors import ConfigError
from jumpnet.models.factory import check_config as check_model_ablation
from jumpnet.run.gpus import claim_gpu

__all__ = ["ConfigError", "check_run_config", "resolve_device"]


def _require(ok: bool, message: str, fix: str | None = None) -> None:
    if not ok:
        raise ConfigError(message, fix)


def check_run_config(cfg: DictConfig) -> None:
    """Everything that can be checked without data: the schema's fields, model x ablation, cross-field rules."""
    check_fields(cfg)
    check_model_ablation(cfg)
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
    archive = d.get("archive")
    _require(not archive or Path(archive).expanduser().is_file(),
             f"data.archive={archive!r} does not exist",
             "point data.archive (or JUMPNET_DATA_ARCHIVE) at a tar of an ImageFolder tree, "
             "or set data.archive=null to use torchvision's dataset")


def resolve_device(setting: str, runs_per_gpu: int = 1) -> torch.device:
    """The device a job trains on; checked where the job runs (a login node may have no GPU).

    With several GPUs visible, or several runs allowed per GPU (``trainer.runs_per_gpu``),
    the job claims a free slot on the least busy GPU (``jumpnet.run.gpus``).
    """
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    _require(setting != "cuda" or torch.cuda.is_available(),
             "trainer.device=cuda but no CUDA device is visible here", "use trainer.device=auto or cpu")
    if setting == "cuda" and (torch.cuda.device_count() > 1 or runs_per_gpu > 1):
        index = claim_gpu(torch.cuda.device_count(), per_gpu=runs_per_gpu)
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device(str(setting))
