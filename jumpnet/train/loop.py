"""The training loop: epochs of SGD on the train split, model selection on validation.

The loop owns what happens between "here is a model and its data" and "here
are its selected weights and history": per-step schedule, per-epoch
validation, a checkpoint after every epoch (resumable to the exact batch
order), early stopping, and clean termination when training diverges: a
non-finite training or validation loss, or non-finite weights, ends it as
``diverged``. The checkpoint of the last epoch (or of an early stop) says that
training has finished, so a run killed after it (during test, or while W&B
finishes) goes straight to test when resumed instead of training more epochs.
The test split is not seen here: it is evaluated once, by the caller.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn
from tqdm import tqdm

from jumpnet.data.fast_loader import BatchLoader
from jumpnet.train.checkpoint import WALL_TIME, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from jumpnet.train.compile import compile_mode, compile_model, mark_step
from jumpnet.train.evaluate import autocast_for, evaluate
from jumpnet.train.optim import build_optimizer, build_scheduler
from jumpnet.train.precision import resolve_precision
from jumpnet.train.throughput import ImageTimer, images_per_second
from jumpnet.train.watchdog import heartbeat

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    status: str                      # completed | diverged
    history: list[dict]
    best_val_acc: float | None
    best_epoch: int
    train_time_s: float
    images_seen: int
    resumed_from: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return images_per_second(self.images_seen, self.train_time_s)


def progress_mode(setting: str) -> str:
    if setting == "auto":
        return "bar" if sys.stderr.isatty() else "log"
    return setting


class Trainer:
    """Trains one model; ``fit`` resumes from ``checkpoint_path`` when it exists and ``resume`` is on.

    ``constant_lr``: train at the optimizer's lr throughout, ``trainer.schedule`` unused (timing, not a recipe).
    """

    def __init__(self, model: nn.Module, train: BatchLoader, val: BatchLoader | None, trainer: DictConfig,
                 optimizer_cfg: DictConfig, checkpoint_path: Path,
                 on_epoch: Callable[[dict], None] | None = None, compile_backend: str = "inductor",
                 constant_lr: bool = False):
        self.model, self.train_loader, self.val_loader = model, train, val
        self.cfg = trainer
        self.device = train.device
        self.precision = resolve_precision(trainer.get("precision", "auto"), self.device, bool(trainer.fast))
        self.mixed = self.precision == "bf16"  # bf16 autocast in training, validation and test
        self.optimizer = build_optimizer(optimizer_cfg, model)
        self.scheduler = build_scheduler(self.optimizer, trainer, len(train), constant_lr)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=float(trainer.label_smoothing))
        self.checkpoint_path = Path(checkpoint_path)
        self.on_epoch = on_epoch or (lambda row: None)
        self.compile_mode = compile_mode(trainer.get("compile", False))
        self.forward = compile_model(model, self.compile_mode, compile_backend)
        self.extra_state: dict = {}   # saved with every checkpoint (the pipeline's data identity)
        self.started, self.wall_before = time.perf_counter(), 0.0  # this attempt's start; earlier attempts' wall
        self.saved_epoch = 0          # the last epoch a checkpoint holds: what an interrupted run has done
        self.result: FitResult | None = None

    def _state(self, epoch: int, result: FitResult, best_state: dict, finished: bool = False) -> dict:
        """Everything a resume needs; ``finished``: training is over (last epoch or early stop), only test is left."""
        return {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "history": result.history,
                "best_val_acc": result.best_val_acc, "best_epoch": result.best_epoch, "best_model": best_state,
                "train_time_s": result.train_time_s, "images_seen": result.images_seen,
                "rng": rng_state(), "loader_rng": self.train_loader.generator.get_state(),
                "finished": finished, "notes": list(result.notes),
                WALL_TIME: self.wall_before + time.perf_counter() - self.started, **self.extra_state}

    def _restore(self, result: FitResult, state: dict) -> tuple[int, dict]:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.train_loader.generator.set_state(state["loader_rng"])  # a CPU ByteTensor for every device
        result.history, result.best_val_acc = state["history"], state["best_val_acc"]
        result.best_epoch, result.train_time_s = state["best_epoch"], state["train_time_s"]
        result.images_seen, result.resumed_from = state["images_seen"], state["epoch"]
        self.wall_before = float(state.get(WALL_TIME, 0.0))  # a checkpoint written before it was kept: 0
        log.info(f"Resumed from {self.checkpoint_path} after epoch {state['epoch']}")
        return state["epoch"], state["best_model"]

    def evaluate(self, loader: BatchLoader) -> tuple[float, float]:
        """Loss and accuracy on ``loader`` through the (compiled) model, as training uses it."""
        return evaluate(self.model, loader, self.mixed, self.forward)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on one batch (under bf16 autocast when ``trainer.precision`` resolves to bf16)."""
        mark_step(self.compile_mode, self.device)  # CUDA graphs (reduce-overhead): a new step begins
        with autocast_for(self.device, self.mixed):
            logits = self.forward(x)
            loss = self.criterion(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return loss, logits

    def _train_epoch(self, epoch: int, mode: str) -> tuple[float, float, float, int]:
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        batches = tqdm(self.train_loader, desc=f"epoch {epoch}/{self.cfg.epochs}", leave=False,
                       disable=mode != "bar", dynamic_ncols=True)
        log_every = max(1, len(self.train_loader) // 10)
        timer = ImageTimer(self.device).start()  # the same timer as `make bench` (jumpnet/train/throughput.py)
        for i, (x, y) in enumerate(batches):
            loss, logits = self.train_step(x, y)
            heartbeat()  # jumpnet.train.watchdog: a step finished
            timer.count(len(y))
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen = timer.images
            if mode == "bar" and i % 10 == 0:
                batches.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}")
            elif mode == "log" and (i + 1) % log_every == 0 and i + 1 < len(self.train_loader):
                log.info(f"epoch {epoch}/{self.cfg.epochs} {100 * (i + 1) // len(self.train_loader)}% "
                         f"train_loss {loss_sum.item() / seen:.4f} {seen / timer.elapsed():.0f} img/s")
        seconds = timer.stop()  # synchronizes CUDA before reading the clock
        seen = max(1, timer.images)
        return loss_sum.item() / seen, correct.item() / seen, seconds, timer.images

    def fit(self, resume: dict | None = None) -> FitResult:
        """Train (from the checkpoint state ``resume``, else from ``checkpoint_path`` when ``trainer.resume``)."""
        result = self.result = FitResult("completed", [], None, 0, 0.0, 0)
        start_epoch, best_state = 0, None
        if resume is None and self.cfg.resume and self.checkpoint_path.exists():
            resume = load_checkpoint(self.checkpoint_path)
        if resume is not None:
            start_epoch, best_state = self._restore(result, resume)
        self.saved_epoch = start_epoch
        finished = bool(resume and resume.get("finished"))
        if finished:
            result.notes = list(resume.get("notes") or [])
            log.info(f"Training had finished after epoch {start_epoch}; nothing left to train")
        mode = progress_mode(self.cfg.progress)
        patience = self.cfg.early_stopping
        for epoch in range(start_epoch + 1, self.cfg.epochs + 1) if not finished else ():
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, train_acc, seconds, seen = self._train_epoch(epoch, mode)
            result.train_time_s += seconds
            result.images_seen += seen
            val_loss, val_acc = self.evaluate(self.val_loader) if self.val_loader else (None, None)
            row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                   "val_acc": val_acc, "lr": lr, "time_s": seconds}
            result.history.append(row)
            self.on_epoch(row)
            if mode != "none":
                val = "" if val_acc is None else f" val_loss {val_loss:.4f} val_acc {val_acc:.4f}"
                log.info(f"epoch {epoch}/{self.cfg.epochs} train_loss {train_loss:.4f} train_acc {train_acc:.4f}"
                         f"{val} lr {lr:.4g} {images_per_second(seen, seconds):.0f} img/s {seconds:.1f}s")
            why = divergence(train_loss, val_loss, self.model)
            if why:
                result.status = "diverged"
                result.notes.append(f"{why} in epoch {epoch}")
                log.error(f"Diverged: {why} in epoch {epoch}; stopping")
                break
            if val_acc is not None and (result.best_val_acc is None or val_acc > result.best_val_acc):
                result.best_val_acc, result.best_epoch = val_acc, epoch
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            stop = bool(patience and val_acc is not None and epoch - result.best_epoch >= patience)
            if stop:
                result.notes.append(f"early stop after epoch {epoch}: no better val_acc for {patience} epochs")
                log.info(result.notes[-1])
            save_checkpoint(self.checkpoint_path, self._state(epoch, result, best_state,
                                                              finished=stop or epoch == self.cfg.epochs))
            self.saved_epoch = epoch
            if stop:
                break
        if best_state is not None and result.status == "completed":
            self.model.load_state_dict(best_state)  # the weights chosen on validation, never on test
        elif result.history:
            result.best_epoch = result.history[-1]["epoch"]
        if result.status == "completed" and not finite_weights(self.model):
            result.status = "diverged"
            result.notes.append("the selected weights are not finite")
            log.error(f"Diverged: {result.notes[-1]}")
        return result


def finite_weights(model: nn.Module) -> bool:
    """Every floating-point parameter and buffer (BatchNorm statistics included) is finite."""
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


def divergence(train_loss: float, val_loss: float | None, model: nn.Module) -> str | None:
    """Why an epoch's training diverged (a non-finite loss or weights), or None."""
    if not math.isfinite(train_loss):
        return f"training loss became {train_loss}"
    if val_loss is not None and not math.isfinite(val_loss):
        return f"validation loss became {val_loss}"
    if not finite_weights(model):
        return "weights became non-finite"
    return None
