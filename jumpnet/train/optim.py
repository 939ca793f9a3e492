"""Optimizer (from the ``optimizer`` config group) and the per-step learning-rate schedule."""
from __future__ import annotations

import math

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from jumpnet.config.choices import SCHEDULES, Schedule

ONECYCLE_RISE = 0.3  # OneCycleLR's default pct_start: the share of training spent rising to the peak lr


def build_optimizer(optimizer_cfg: DictConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    return instantiate(optimizer_cfg)(model.parameters())


def lr_factor(step: int, total: int, warmup: int, schedule: str, milestones: list[float], gamma: float) -> float:
    """Multiplier of the base lr at ``step`` (0-based) of ``total`` for ``cosine`` and ``step``: linear warmup,
    then the schedule. ``step`` milestones are fractions of training (the papers' 50% and 75% of epochs)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == Schedule.cosine:
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == Schedule.step:
        return gamma ** sum(progress >= m for m in milestones)
    raise ValueError(f"trainer.schedule={schedule!r} has no lr factor; choose one of {SCHEDULES}")


def build_scheduler(optimizer: torch.optim.Optimizer, trainer: DictConfig, steps_per_epoch: int,
                    constant_lr: bool = False):
    """Stepped once per batch. ``onecycle`` is torch's ``OneCycleLR`` (Smith & Topin): lr rises from
    ``lr/25`` to ``trainer.lr`` over ``trainer.warmup_epochs`` (or the first 30% of training), then anneals by
    cosine to ``lr/25e4``, while momentum (SGD's, or Adam's beta1) cycles the other way, 0.95 -> 0.85 -> 0.95.

    ``constant_lr``: the optimizer's lr at every step, no warmup and no schedule (``trainer.schedule``,
    ``epochs`` and ``warmup_epochs`` unread): what timing a training step (``make bench``, ``gpucheck``) wants."""
    if constant_lr:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    total = int(trainer.epochs) * steps_per_epoch
    warmup = int(trainer.warmup_epochs * steps_per_epoch)
    if trainer.schedule == Schedule.onecycle:
        rise = warmup / total if warmup else ONECYCLE_RISE
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=float(trainer.lr), total_steps=max(2, total),
                                                   pct_start=min(rise, 0.99), anneal_strategy="cos",
                                                   cycle_momentum=True)
    milestones = list(trainer.milestones)
    schedule = str(trainer.schedule)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, schedule, milestones, trainer.gamma))
