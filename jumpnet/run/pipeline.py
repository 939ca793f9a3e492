"""One run, start to finish: check, (skip | resume | train), measure, test once, record.

This is the task function behind ``run.py``. It guarantees the run-folder
contract of SPEC.md: a completed run is never retrained or overwritten unless
``trainer.overwrite=true`` (and then its old files move to ``previous/``); an
interrupted run resumes from its checkpoint; a run that raises leaves
``status: failed`` and ``error.txt``; Ctrl-C leaves ``status: interrupted`` with
the epochs its checkpoint holds; a non-finite loss or weights end it as
``diverged``. The config is checked before anything is written (a folder Hydra
made for a config that fails the checks is removed again), and the data is part
of the run's identity (``data_id``, ``jumpnet.data.identity``): a folder made
with other data is refused, never resumed or skipped.
"""
from __future__ import annotations

import logging
import math
import os
import random
import socket
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from jumpnet.atomic import write_json_atomic, write_text_atomic
from jumpnet.config.naming import ablation_label
from jumpnet.data import load_arrays, make_splits
from jumpnet.data.identity import data_identity
from jumpnet.data.loaders import make_loaders
from jumpnet.errors import JumpnetError
from jumpnet.models.cost import measure
from jumpnet.models.factory import resolve_model
from jumpnet.run.attempts import prepare_attempt, remove_unstarted_folder, saved_progress, skip_if_final
from jumpnet.run.folder import CHECKPOINT, ERROR, METRICS, lock_run
from jumpnet.run.provenance import provenance, set_determinism
from jumpnet.run.spec import check_run_config, resolve_device
from jumpnet.run.tracking import make_tracker, run_name
from jumpnet.train.loop import Trainer
from jumpnet.train.lottery import init_lottery
from jumpnet.train.memory_format import memory_format_for
from jumpnet.train.watchdog import StallWatchdog

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(threads: int | None) -> None:
    """``trainer.threads``, else ``OMP_NUM_THREADS`` when set, else every core this process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    default = int(env) if env.isdigit() and int(env) > 0 else len(os.sched_getaffinity(0))
    torch.set_num_threads(int(threads) if threads else default)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def cluster_job() -> dict:
    """The SLURM job this run is in (``123_4`` for an array task) and how often SLURM requeued it."""
    env = os.environ
    if "SLURM_JOB_ID" not in env:
        return {"slurm_job_id": None, "requeued": 0}
    array = "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env
    job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}" if array else env["SLURM_JOB_ID"]
    return {"slurm_job_id": job, "requeued": int(env.get("SLURM_RESTART_COUNT") or 0)}


def base_record(cfg: DictConfig, data_id: str | None = None) -> dict:
    """Every SPEC key, null until measured, plus the config facts a report needs."""
    keys = ("params", "flops", "macs", "feature_map", "size_mb", "test_acc", "test_loss", "best_val_acc",
            "train_time_s", "throughput", "device")
    def plain(v):
        return (None if v is None else str(v))  # the schema's enums as the strings they stand for
    return {"model": cfg.model.name, "ablation": ablation_label(cfg.ablation), "seed": int(cfg.seed),
            "status": "running", **dict.fromkeys(keys), "epochs": 0, **provenance(), "history": [],
            "experiment": cfg.name, "data": cfg.data.name, "data_archive": cfg.data.get("archive"), "data_id": data_id,
            "links": bool(cfg.ablation.links), "merge": plain(cfg.ablation.merge),
            "head": plain(cfg.ablation.get("head")),
            "residual": bool(cfg.ablation.get("residual", True)), "width_mult": float(cfg.model.get("width_mult", 1.0)),
            "match": plain(cfg.ablation.get("match")), "match_target": None, "match_width_mult": None,
            "match_ratio": None, "match_gap": None, "deterministic": bool(cfg.trainer.get("deterministic", False)),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"), **cluster_job()}


def train_and_test(cfg: DictConfig, run_dir: Path, record: dict, resume: dict | None = None) -> dict:
    device = resolve_device(cfg.trainer.device, int(cfg.trainer.get("runs_per_gpu", 1)))
    set_threads(cfg.trainer.threads)
    set_determinism(bool(cfg.trainer.deterministic), bool(cfg.trainer.fast))
    spec = resolve_model(cfg)  # a matched arm's width is solved here, before any data is read
    record.update(spec.record())
    if spec.match.match:
        log.info(f"Matched {spec.match.match}: width_mult {spec.match.width_mult} gives {spec.match.value:,} "
                 f"vs full's {spec.match.target:,} (ratio {spec.match.ratio:.4f}"
                 + (f", no width within 2%: gap {spec.match.gap:+.2%})" if spec.match.gap is not None else ")"))
    seed_everything(int(cfg.seed))
    record.update(gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None)
    splits = make_splits(load_arrays(cfg.data), int(cfg.data.val_size), cfg.data.train_subset, cfg.data.test_subset)
    record.update(device=device_name(device), splits=splits.sizes(), test_subset_used=splits.test_subset_used)
    source = f"archive {cfg.data.archive}" if cfg.data.get("archive") else "torchvision/synthetic"
    log.info(f"Data {cfg.data.name}: {splits.sizes()} ({source})")
    model = spec.build()
    record.update(measure(model, int(cfg.data.image_size)), head=model.head_kind)
    log.info(f"Model {cfg.model.name} ({record['ablation']}): {record['params']:,} params, "
             f"{record['macs'] / 1e6:.1f}M MACs, features {record['feature_map']}")
    memory_format = memory_format_for(model, cfg.trainer.channels_last, device)
    record.update(channels_last=memory_format == torch.channels_last, threads=torch.get_num_threads())
    model = model.to(device, memory_format=memory_format)
    train, val, test = make_loaders(splits, cfg.data, cfg.trainer, int(cfg.seed), device,
                                    channels_last=memory_format == torch.channels_last)
    record["init_lottery"] = init_lottery(model, spec.build, train, cfg, run_dir, resume is not None)
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tags = [cfg.model.name, record["ablation"], cfg.data.name]
    name = run_name(run_dir, Path(cfg.paths.experiments_dir) / cfg.name)
    with make_tracker(cfg.logger, run_dir, config, name=name, tags=tags) as tracker, \
            StallWatchdog(cfg.trainer.get("stall_timeout_s"), run_dir / ERROR,
                          lambda msg: record_stall(run_dir, record, msg)):
        def on_epoch(row: dict) -> None:
            record["epochs"] = row["epoch"]  # the record shows progress should the run stall
            tracker.log_epoch(row)

        trainer = Trainer(model, train, val, cfg.trainer, cfg.optimizer, run_dir / CHECKPOINT, on_epoch=on_epoch)
        trainer.extra_state = {"data_id": record["data_id"]}
        fit = trainer.fit(resume)
        record.update(status="running" if fit.status == "completed" else fit.status,  # completed once tested
                      history=fit.history, epochs=len(fit.history), best_val_acc=fit.best_val_acc,
                      best_epoch=fit.best_epoch, train_time_s=round(fit.train_time_s, 3),
                      throughput=round(fit.throughput, 2), resumed_from_epoch=fit.resumed_from,
                      notes=record.get("notes", []) + fit.notes)
        if fit.status == "completed":
            record["test_loss"], record["test_acc"] = trainer.evaluate(test)  # once, selected weights
            log.info(f"Test ({len(splits.y_test)} images, weights of epoch {fit.best_epoch}): "
                     f"acc {record['test_acc']:.4f} loss {record['test_loss']:.4f}")
            record["status"] = "completed" if math.isfinite(record["test_loss"]) else "diverged"
            if record["status"] == "diverged":
                record["notes"].append(f"test loss is {record['test_loss']}")
                log.error(f"Diverged: test loss {record['test_loss']}")
            tracker.log_weights(model, {k: record[k] for k in ("model", "ablation", "seed", "best_epoch",
                                                               "best_val_acc", "test_acc", "params")})
        tracker.summary(record)
    return record


def record_stall(run_dir: Path, record: dict, message: str) -> None:
    """The watchdog's last act (on its own thread; the main thread is stuck): the run is failed, reason stalled."""
    record.update(status="failed", reason="stalled", error=message,
                  finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
    write_json_atomic(run_dir / METRICS, record)


def execute(cfg: DictConfig, run_dir: Path, multirun: bool = False) -> float | None:
    """Run one configuration in ``run_dir``; return its best validation accuracy (the tuning objective).

    Raises what keeps the run from starting (a config error, a busy or unreadable folder, other data) and,
    outside a multirun, what made it fail; in a multirun a failed run is recorded and the sweep goes on.
    """
    run_dir = Path(run_dir)
    try:
        check_run_config(cfg)  # before anything is written; keys the schema does not know fail even for a finished run
        data_id = data_identity(cfg.data)
    except (JumpnetError, OSError):
        remove_unstarted_folder(run_dir, Path(cfg.paths.experiments_dir))
        raise
    run_dir.mkdir(parents=True, exist_ok=True)
    done = skip_if_final(cfg, run_dir, data_id)
    if done is not None:
        return done.get("best_val_acc")
    job = cluster_job()["slurm_job_id"]
    with lock_run(run_dir, f"on {socket.gethostname()}" + (f" in SLURM job {job}" if job else "")):
        done = skip_if_final(cfg, run_dir, data_id)  # another process may have finished it while this one waited
        if done is not None:
            return done.get("best_val_acc")
        resume, note = prepare_attempt(cfg, run_dir, data_id)
        record = base_record(cfg, data_id)
        if note:
            record.update(notes=[note], checkpoint_discarded=note)
        return attempt(cfg, run_dir, record, resume, multirun)


def attempt(cfg: DictConfig, run_dir: Path, record: dict, resume: dict | None, multirun: bool) -> float | None:
    """Train and test under the lock; record the outcome whatever happens (Ctrl-C and a full disk included)."""
    started = time.perf_counter()
    failure: BaseException | None = None
    try:
        record = train_and_test(cfg, run_dir, record, resume)
    except KeyboardInterrupt as err:
        record.update(status="interrupted", **saved_progress(run_dir))
        log.warning(f"Interrupted after {record['epochs']} saved epochs; run the same command again to resume")
        failure = err
    except Exception as err:  # noqa: BLE001 - any failure of one run is recorded, never lost
        message = err.message if isinstance(err, JumpnetError) else err  # the fix is in error.txt and on screen
        record.update(status="failed", error=f"{type(err).__name__}: {message}", **saved_progress(run_dir))
        try:
            write_text_atomic(run_dir / ERROR, traceback.format_exc())
        except JumpnetError as write_err:
            log.error(f"{write_err}")
        failure = err
    record["wall_time_s"] = round(time.perf_counter() - started, 3)
    record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        write_json_atomic(run_dir / METRICS, record)
    except JumpnetError as write_err:  # the earlier record is intact; say so, and never hide the first error
        log.error(f"Run record not written: {write_err}")
        if failure is None or isinstance(failure, Exception) and multirun:
            raise write_err from failure
    if isinstance(failure, KeyboardInterrupt) or (failure is not None and not multirun):
        if not isinstance(failure, KeyboardInterrupt):  # run.py prints the error itself, in a line
            log.error(f"Run failed (traceback in {run_dir / ERROR})")
        raise failure
    if failure is not None:
        log.error(f"Run failed: {record['error']} (traceback in {run_dir / ERROR})")
    return record.get("best_val_acc")
