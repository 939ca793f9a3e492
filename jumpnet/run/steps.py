"""The steps of one run, each a small function that takes the spec (or plain values) and returns what it made.

``jumpnet.run.pipeline.train_and_test`` calls them in order and merges each result into the run record.
None of them checks the config again: ``jumpnet.run.spec.resolve_run`` did, once.
"""
from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import nn

from jumpnet.atomic import write_json_atomic
from jumpnet.data import load_arrays, make_splits
from jumpnet.data.loaders import Loader
from jumpnet.data.splits import Splits
from jumpnet.models.cost import measure
from jumpnet.models.matching import WidthSolve
from jumpnet.run.folder import CHECKPOINT, ERROR, METRICS
from jumpnet.run.predictions import predict, write_predictions
from jumpnet.run.provenance import set_determinism
from jumpnet.run.record import DeviceFacts, FinalTest, ModelFacts, Published, stalled
from jumpnet.run.spec import RunSpec, resolve_device
from jumpnet.run.tracking import TAG_CHARS, NullTracker, fit, make_tracker, run_group, run_name
from jumpnet.train.loop import Trainer
from jumpnet.train.memory_format import memory_format_for
from jumpnet.train.watchdog import StallWatchdog

log = logging.getLogger(__name__)


def set_threads(threads: int | None) -> None:
    """``trainer.threads``, else ``OMP_NUM_THREADS`` when set, else every core this process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    default = int(env) if env.isdigit() and int(env) > 0 else len(os.sched_getaffinity(0))
    torch.set_num_threads(int(threads) if threads else default)


def claim_device(spec: RunSpec) -> DeviceFacts:
    """The device (a GPU slot is claimed here, where the job runs), its CPU threads and determinism."""
    t = spec.cfg.trainer
    device = resolve_device(t.device, int(t.get("runs_per_gpu", 1)))
    set_threads(t.threads)
    set_determinism(bool(t.deterministic), bool(t.fast))
    return DeviceFacts(device, torch.get_num_threads())


def log_solve(solve: WidthSolve) -> None:
    if solve.match:
        log.info(f"Matched {solve.match}: width_mult {solve.width_mult} gives {solve.value:,} "
                 f"vs full's {solve.target:,} (ratio {solve.ratio:.4f}"
                 + (f", no width within 2%: gap {solve.gap:+.2%})" if solve.gap is not None else ")"))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(spec: RunSpec) -> Splits:
    d = spec.cfg.data
    splits = make_splits(load_arrays(d), int(d.val_size), d.train_subset, d.test_subset)
    source = f"archive {d.archive}" if d.get("archive") else "torchvision/synthetic"
    log.info(f"Data {d.name}: {splits.sizes()} ({source})")
    return splits


def measure_model(model: nn.Module, spec: RunSpec) -> ModelFacts:
    facts = ModelFacts(**measure(model, int(spec.cfg.data.image_size)), head=model.head_kind)
    log.info(f"Model {spec.model.name} ({spec.label}): {facts.params:,} params, {facts.macs / 1e6:.1f}M MACs, "
             f"features {facts.feature_map}")
    return facts


def place(model: nn.Module, spec: RunSpec, device: torch.device) -> tuple[nn.Module, bool]:
    """The model on its device, in the memory format ``trainer.channels_last`` picks there; whether channels_last."""
    memory_format = memory_format_for(model, spec.cfg.trainer.channels_last, device)
    return model.to(device, memory_format=memory_format), memory_format == torch.channels_last


def tracking(spec: RunSpec, run_dir: Path) -> NullTracker:
    """The run's W&B run (or none): the resolved config, named after its folder, grouped by ``logger.group_by``,
    tagged model, ablation, data and experiment."""
    cfg = spec.cfg
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    sweep = Path(cfg.paths.experiments_dir) / cfg.name
    tags = [cfg.model.name, spec.label, cfg.data.name, fit(f"experiment={cfg.name}", TAG_CHARS)]
    return make_tracker(cfg.logger, run_dir, config, name=run_name(run_dir, sweep), tags=tags,
                        group=run_group(cfg.logger, str(cfg.name), run_dir, sweep))


@contextmanager
def watchdog(spec: RunSpec, run_dir: Path, published: Published) -> Iterator[None]:
    """Guard the block against stalls: on one, the watchdog's thread writes its own record, made from the latest
    one the main thread published (``record.stalled``), and ends the process."""
    def on_stall(message: str) -> None:
        write_json_atomic(run_dir / METRICS, stalled(published.latest(), message).to_json())

    with StallWatchdog(spec.cfg.trainer.get("stall_timeout_s"), run_dir / ERROR, on_stall):
        yield


def make_trainer(spec: RunSpec, model: nn.Module, train: Loader, val: Loader | None, run_dir: Path, data_id: str | None,
                 on_epoch: Callable[[dict], None]) -> Trainer:
    trainer = Trainer(model, train, val, spec.cfg.trainer, spec.cfg.optimizer, run_dir / CHECKPOINT,
                      on_epoch=on_epoch)
    trainer.extra_state = {"data_id": data_id}  # a checkpoint names its data: other data never resumes it
    return trainer


def run_test(trainer: Trainer, loader: Loader, images: int, best_epoch: int, run_dir: Path) -> FinalTest:
    """The test split, once, with the selected weights; each image's prediction goes to ``predictions.npz``
    (before the record says completed), so a report can test over the images and its accuracy is ``test_acc``."""
    tested = predict(trainer.model, loader, trainer.mixed, trainer.forward)
    loss, acc = tested.loss, tested.predictions.accuracy
    log.info(f"Test ({images} images, weights of epoch {best_epoch}): acc {acc:.4f} loss {loss:.4f}")
    result = FinalTest(test_loss=loss, test_acc=acc)
    if result.diverged:
        log.error(f"Diverged: test loss {loss}")
    else:  # a diverged network's argmaxes mean nothing: no predictions kept
        write_predictions(run_dir, tested.predictions)
    return result
