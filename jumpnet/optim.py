"""Optimizer (from the ``optimizer`` config group) and the per-step learning-rate schedule."""
from __future__ import annotations

import math

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

SCHEDULES = ("cosine", "step", "onecycle")


def build_optimizer(optimizer_cfg: DictConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    return instantiate(optimizer_cfg)(model.parameters())


def lr_factor(step: int, total: int, warmup: int, schedule: str, milestones: list[float], gamma: float) -> float:
    """Multiplier of the base lr at ``step`` (0-based) of ``total``: linear warmup, then the schedule.

    ``step`` milestones are fractions of training (the papers' 50% and 75% of epochs);
    ``onecycle`` rises linearly to the peak over the first 30% and anneals by cosine to ~0.
    """
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "onecycle":
        peak = max(1, int(0.3 * total))
        if step < peak:
            return 0.04 + 0.96 * step / peak
        progress = (step - peak) / max(1, total - peak)
        return 0.5 * (1 + math.cos(math.pi * progress)) * 0.9999 + 1e-4
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return gamma ** sum(progress >= m for m in milestones)
    raise ValueError(f"trainer.schedule={schedule!r} is unknown; choose one of {SCHEDULES}")


def build_scheduler(optimizer: torch.optim.Optimizer, trainer: DictConfig, steps_per_epoch: int):
    total = trainer.epochs * steps_per_epoch
    warmup = int(trainer.warmup_epochs * steps_per_epoch)
    milestones = list(trainer.milestones)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, trainer.schedule, milestones, trainer.gamma))
