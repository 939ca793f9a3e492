"""The initialization lottery (jumpnet/train/lottery.py) and the linear lr warmup (jumpnet/train/optim.py)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from jumpnet.config.compose import compose_config
from jumpnet.data import load_arrays, make_splits
from jumpnet.data.loaders import make_loaders
from jumpnet.models.factory import build_model
from jumpnet.train.lottery import draw_seed, run_lottery
from jumpnet.train.optim import build_scheduler
from tests.conftest import TINY_DATA, TINY_JUMPNET, find_runs, run_py


def test_lottery_keeps_the_init_of_the_lowest_loss_draw():
    cfg = compose_config([*TINY_JUMPNET, *TINY_DATA, "trainer.init_draws=4", "++trainer.init_steps=3",
                          "trainer.device=cpu", "seed=3"])
    torch.set_num_threads(1)
    splits = make_splits(load_arrays(cfg.data), int(cfg.data.val_size), None, None)
    train, _, _ = make_loaders(splits, cfg.data, cfg.trainer, int(cfg.seed), torch.device("cpu"))
    model = build_model(cfg)
    rng_before, loader_before = torch.get_rng_state(), train.generator.get_state()

    result = run_lottery(model, lambda: build_model(cfg), train, cfg.trainer, cfg.optimizer, int(cfg.seed))
    # training then sees the batches (and random numbers) it would have seen without the lottery
    assert torch.equal(torch.get_rng_state(), rng_before) and torch.equal(train.generator.get_state(), loader_before)

    losses = [d["loss"] for d in result["draws"]]
    assert [d["draw"] for d in result["draws"]] == [0, 1, 2, 3] and result["steps"] == 3
    assert all(math.isfinite(x) for x in losses) and len(set(losses)) == 4
    assert result["chosen"] == min(range(4), key=losses.__getitem__)
    seeds = [d["seed"] for d in result["draws"]]
    assert len(set(seeds)) == 4 and seeds[result["chosen"]] == draw_seed(3, result["chosen"])
    # the model holds the chosen draw's *initial* weights: rebuilt from its seed, they are equal
    torch.manual_seed(draw_seed(3, result["chosen"]))
    expected = build_model(cfg).state_dict()
    for name, value in model.state_dict().items():
        assert torch.equal(value, expected[name]), name
    torch.manual_seed(draw_seed(3, (result["chosen"] + 1) % 4))  # and not another draw's
    other = build_model(cfg).state_dict()
    assert not all(torch.equal(v, other[k]) for k, v in model.state_dict().items())


def test_run_records_its_lottery_and_skips_it_on_resume(exp_dir):
    args = [*TINY_DATA, *TINY_JUMPNET, "trainer.epochs=1", "logger=none", "trainer.threads=1", "trainer.init_draws=3",
            "++trainer.init_steps=2", f"paths.experiments_dir={exp_dir}"]
    out = run_py(args)
    assert out.returncode == 0, out.stderr[-3000:]
    ((name, record),) = find_runs(exp_dir).items()
    lottery = record["init_lottery"]
    assert [d["draw"] for d in lottery["draws"]] == [0, 1, 2]
    assert lottery["chosen"] == min(range(3), key=lambda i: lottery["draws"][i]["loss"])
    (run_dir,) = [p.parent for p in exp_dir.rglob("metrics.json")]
    assert json.loads((run_dir / "init_lottery.json").read_text()) == lottery

    # A resumed run takes its weights from the checkpoint: no new lottery, the first one's record kept.
    (run_dir / "metrics.json").unlink()
    resumed = run_py(args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    text = resumed.stdout + resumed.stderr
    assert "Resumed from" in text and "Init lottery" not in text
    assert json.loads((run_dir / "metrics.json").read_text())["init_lottery"] == lottery


@pytest.mark.parametrize("warmup_epochs", [1, 2.5])
def test_warmup_ramps_the_lr_linearly(warmup_epochs):
    cfg = compose_config(["trainer.epochs=10", f"trainer.warmup_epochs={warmup_epochs}", "trainer.lr=0.4",
                          "trainer.schedule=cosine"])
    steps_per_epoch, warmup = 8, int(warmup_epochs * 8)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=float(cfg.trainer.lr))
    scheduler = build_scheduler(optimizer, cfg.trainer, steps_per_epoch)
    lrs = []
    for _ in range(warmup + 3):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:warmup] == pytest.approx([0.4 * (k + 1) / warmup for k in range(warmup)])  # equal steps up to the peak
    steps = [b - a for a, b in zip(lrs[:warmup], lrs[1:warmup])]
    assert steps == pytest.approx([0.4 / warmup] * (warmup - 1))
    assert lrs[warmup] == pytest.approx(0.4) and lrs[warmup + 1] < 0.4  # then the cosine decay begins
