"""Initialization lottery: try ``trainer.init_draws`` seeded inits for a few steps, keep the best.

The reference notebooks' practice: some random initializations start much
better than others, so draw N of them, train each for ``trainer.init_steps``
steps on the real training data with a throwaway optimizer (same optimizer,
schedule and warmup as the run), and keep the *initial* weights of the draw
whose mean training loss over those steps was lowest. Training then starts
from that init with a fresh optimizer. The RNG and the loader's batch order are
restored afterwards, so the run sees the same batches as without a lottery.

Draw ``i`` is ``torch.manual_seed(draw_seed(seed, i))`` followed by building
the run's model (``ModelSpec.build``): any draw can be rebuilt from its recorded seed. The
draws go to ``init_lottery.json`` in the run folder; a resumed run takes its
weights from the checkpoint and reports the lottery of its first attempt.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from jumpnet.atomic import write_json_atomic
from jumpnet.data.fast_loader import BatchLoader
from jumpnet.train.checkpoint import rng_state, set_rng_state
from jumpnet.train.loop import Trainer

log = logging.getLogger(__name__)
LOTTERY = "init_lottery.json"
DEFAULT_STEPS = 20


def draw_seed(seed: int, draw: int) -> int:
    """The torch seed of draw ``draw`` of a run seeded ``seed`` (distinct across seeds and draws)."""
    return int(np.random.SeedSequence([int(seed), int(draw)]).generate_state(1)[0])


def short_run_loss(model: nn.Module, loader: BatchLoader, trainer: DictConfig, optimizer_cfg: DictConfig,
                   steps: int) -> float:
    """Mean training loss over ``steps`` steps from the model's current weights (which it changes).

    The steps are the run's own (``Trainer.train_step``), with a throwaway optimizer and schedule.
    """
    probe = Trainer(model, loader, None, trainer, optimizer_cfg, checkpoint_path=Path(os.devnull))
    model.train()
    losses: list[float] = []
    while len(losses) < steps:
        for x, y in loader:
            loss, _ = probe.train_step(x, y)
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                return math.inf
            if len(losses) == steps:
                break
    return sum(losses) / len(losses)


def run_lottery(model: nn.Module, build: Callable[[], nn.Module], loader: BatchLoader, trainer: DictConfig,
                optimizer_cfg: DictConfig, seed: int) -> dict:
    """Load the winning init into ``model``; return ``{steps, chosen, draws: [{draw, seed, loss}]}``."""
    draws, steps = int(trainer.init_draws), int(trainer.get("init_steps", DEFAULT_STEPS))  # >= 1: the schema
    saved_rng, saved_loader = rng_state(), loader.generator.get_state()
    results, inits = [], []
    for i in range(draws):
        s = draw_seed(seed, i)
        torch.manual_seed(s)
        init = {k: v.detach().clone() for k, v in build().state_dict().items()}
        model.load_state_dict(init)  # copies into the model's own device and memory format
        loss = short_run_loss(model, loader, trainer, optimizer_cfg, steps)
        results.append({"draw": i, "seed": s, "loss": loss if math.isfinite(loss) else None})
        inits.append(init)
        log.info(f"Init lottery: draw {i} ({i + 1} of {draws}, seed {s}) mean loss over {steps} steps {loss:.4f}")
    chosen = min(range(draws), key=lambda i: math.inf if results[i]["loss"] is None else results[i]["loss"])
    model.load_state_dict(inits[chosen])
    set_rng_state(saved_rng)
    loader.generator.set_state(saved_loader)
    log.info(f"Init lottery: training starts from draw {chosen} (seed {results[chosen]['seed']})")
    return {"steps": steps, "chosen": chosen, "draws": results}


def init_lottery(model: nn.Module, build: Callable[[], nn.Module], loader: BatchLoader, trainer: DictConfig,
                 optimizer_cfg: DictConfig, seed: int, run_dir: Path, resuming: bool) -> dict | None:
    """Run the lottery when ``trainer.init_draws > 1`` (not on resume); its record, or None without one."""
    path = Path(run_dir) / LOTTERY
    if resuming:
        return json.loads(path.read_text()) if path.exists() else None
    path.unlink(missing_ok=True)  # a record of an earlier, overwritten attempt
    if int(trainer.get("init_draws", 1)) <= 1:
        return None
    record = run_lottery(model, build, loader, trainer, optimizer_cfg, seed)
    write_json_atomic(path, record)
    return record
