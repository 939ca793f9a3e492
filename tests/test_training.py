"""The training loop's choices: schedules, optimizers, early stopping on validation (never test)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from jumpnet.config.compose import compose_config
from jumpnet.data.fast_loader import BatchLoader
from jumpnet.train.loop import Trainer
from jumpnet.train.optim import build_optimizer, build_scheduler, lr_factor


def test_step_schedule_divides_at_the_milestones():
    factors = [lr_factor(s, 100, 0, "step", [0.5, 0.75], 0.1) for s in range(100)]
    assert factors[0] == factors[49] == 1.0
    assert factors[50] == factors[74] == pytest.approx(0.1)
    assert factors[75] == factors[99] == pytest.approx(0.01)


def test_cosine_schedule_anneals_to_zero():
    cosine = [lr_factor(s, 100, 0, "cosine", [], 0.1) for s in range(101)]
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5) and cosine[100] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(cosine, cosine[1:]))


@pytest.mark.parametrize("warmup_epochs,peak_step", [(0, 29), (2, 19)])
def test_onecycle_is_torchs_one_cycle_with_momentum_cycling(warmup_epochs, peak_step):
    """trainer.schedule=onecycle: torch's OneCycleLR, lr up then down, SGD momentum down then up (the 1cycle policy)."""
    cfg = compose_config(["trainer.schedule=onecycle", "trainer.epochs=10", "trainer.lr=0.4",
                          f"trainer.warmup_epochs={warmup_epochs}"])
    opt = build_optimizer(cfg.optimizer, nn.Linear(2, 2))
    sched = build_scheduler(opt, cfg.trainer, steps_per_epoch=10)
    assert isinstance(sched, torch.optim.lr_scheduler.OneCycleLR)
    lrs, momenta = [], []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    assert int(np.argmax(lrs)) == peak_step and max(lrs) == pytest.approx(0.4)   # the peak is trainer.lr
    assert lrs[0] == pytest.approx(0.4 / 25) and lrs[-1] < 1e-4                   # from lr/25 to ~0
    assert momenta[0] == pytest.approx(0.95) and min(momenta) == pytest.approx(0.85, abs=1e-3)
    assert int(np.argmin(momenta)) == peak_step and momenta[-1] > 0.94         # momentum mirrors the lr


@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam)])
def test_optimizer_group_builds_the_optimizer_with_trainer_fields(name, cls):
    cfg = compose_config([f"optimizer={name}", "trainer.lr=0.02", "trainer.weight_decay=0.001"])
    opt = build_optimizer(cfg.optimizer, nn.Linear(2, 2))
    assert isinstance(opt, cls)
    assert opt.param_groups[0]["lr"] == 0.02 and opt.param_groups[0]["weight_decay"] == 0.001
    if name == "sgd":
        assert opt.param_groups[0]["nesterov"] and opt.param_groups[0]["momentum"] == 0.9


def test_early_stopping_ends_training_when_validation_stops_improving(tmp_path):
    """A model that cannot change (lr ~ 0, no BN) never beats its first epoch: patience 2 stops it after epoch 3."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8), np.arange(64) % 4
    loader = dict(device=torch.device("cpu"), mean=[0.5] * 3, std=[0.25] * 3)
    train = BatchLoader(x, y, 16, train=True, **loader)
    val = BatchLoader(x[:32], y[:32], 32, **loader)
    cfg = compose_config(["trainer.epochs=10", "trainer.early_stopping=2", "trainer.lr=1e-30", "trainer.progress=none"])
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 4))
    fit = Trainer(model, train, val, cfg.trainer, cfg.optimizer, tmp_path / "checkpoint.pt").fit()
    assert [h["epoch"] for h in fit.history] == [1, 2, 3]
    assert fit.best_epoch == 1 and fit.status == "completed"
    assert "early stop after epoch 3" in fit.notes[0]


def test_deterministic_turns_on_torchs_deterministic_algorithms_and_off_cudnn_autotuning():
    from jumpnet.run.provenance import set_determinism

    try:
        set_determinism(True, fast=True)
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        set_determinism(False, fast=True)   # the next run of a multirun in the same process starts clean
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
        assert not torch.backends.cudnn.deterministic
    finally:
        set_determinism(False, fast=False)
