"""Reject bad configs with a message naming the value and the fix, before any work starts."""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from jumpnet.factory import check_config as check_model_ablation
from jumpnet.memory_format import parse_setting
from jumpnet.optim import SCHEDULES


class ConfigError(ValueError):
    """A config value that cannot work."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def check_run_config(cfg: DictConfig) -> None:
    """Everything that can be checked without data: model x ablation, trainer and data fields."""
    check_model_ablation(cfg)
    t, d = cfg.trainer, cfg.data
    _require(int(t.epochs) >= 1, f"trainer.epochs={t.epochs} must be >= 1")
    _require(int(t.batch_size) >= 2, f"trainer.batch_size={t.batch_size} must be >= 2 (BatchNorm needs 2 images)")
    _require(float(t.lr) > 0, f"trainer.lr={t.lr} must be > 0")
    _require(float(t.weight_decay) >= 0, f"trainer.weight_decay={t.weight_decay} must be >= 0")
    _require(t.schedule in SCHEDULES, f"trainer.schedule={t.schedule!r} is unknown; choose one of {list(SCHEDULES)}")
    _require(0 <= float(t.label_smoothing) < 1, f"trainer.label_smoothing={t.label_smoothing} must be in [0, 1)")
    _require(t.device in ("auto", "cpu", "cuda"), f"trainer.device={t.device!r} must be auto, cpu or cuda")
    _require(t.progress in ("auto", "bar", "log", "none"), f"trainer.progress={t.progress!r}: use auto, bar, log or none")
    try:
        parse_setting(t.channels_last)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    stall = t.get("stall_timeout_s")
    _require(stall is None or float(stall) > 0, f"trainer.stall_timeout_s={stall} must be > 0 seconds, or null to turn "
             f"the stall watchdog off")
    _require(int(t.get("init_draws", 1)) >= 1, f"trainer.init_draws={t.get('init_draws')} must be >= 1")
    _require(int(d.val_size) >= 0, f"data.val_size={d.val_size} must be >= 0 (0 selects the last epoch)")
    for key in ("train_subset", "test_subset"):
        value = d.get(key)
        _require(value is None or int(value) >= 1, f"data.{key}={value} must be null or >= 1")
    archive = d.get("archive")
    _require(not archive or Path(archive).expanduser().is_file(),
             f"data.archive={archive!r} does not exist. Point data.archive (or JUMPNET_DATA_ARCHIVE) at a tar of an "
             f"ImageFolder tree, or set data.archive=null to use torchvision's dataset.")
    _require(int(d.crop_padding) >= 0, f"data.crop_padding={d.crop_padding} must be >= 0 (0 turns cropping off)")


def resolve_device(setting: str) -> torch.device:
    """The device a job trains on; checked where the job runs (a login node may have no GPU).

    With several GPUs visible, the job claims a free one (``jumpnet.gpus``): one run per GPU.
    """
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    _require(setting != "cuda" or torch.cuda.is_available(),
             "trainer.device=cuda but no CUDA device is visible here; use trainer.device=auto or cpu")
    if setting == "cuda" and torch.cuda.device_count() > 1:
        from jumpnet.gpus import claim_gpu

        index = claim_gpu(torch.cuda.device_count())
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device(setting)
