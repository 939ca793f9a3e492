"""One run, start to finish: check, (skip | resume | train), measure, test once, record.

This is the task function behind ``run.py``. It guarantees the run-folder
contract of SPEC.md: a completed run is never retrained or overwritten unless
``trainer.overwrite=true`` (and then its old files move to ``previous/``); an
interrupted run resumes from its checkpoint; a run that raises leaves
``status: failed`` and ``error.txt``; a NaN loss ends it as ``diverged``.
"""
from __future__ import annotations

import logging
import os
import random
import shutil
import socket
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from jumpnet.checks import check_run_config, resolve_device
from jumpnet.data import load_arrays, make_splits
from jumpnet.data.loaders import make_loaders
from jumpnet.factory import resolve_model
from jumpnet.lottery import init_lottery
from jumpnet.measure import measure
from jumpnet.memory_format import memory_format_for
from jumpnet.provenance import provenance, set_determinism
from jumpnet.runfolder import CHECKPOINT, ERROR, METRICS, lock_run, read_metrics, run_status, write_json_atomic
from jumpnet.schema import check_fields
from jumpnet.tracking import WANDB_ID, make_tracker, run_name
from jumpnet.train import Trainer
from jumpnet.watchdog import StallWatchdog

log = logging.getLogger(__name__)
FINAL = ("completed", "diverged")


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


def base_record(cfg: DictConfig) -> dict:
    """Every SPEC key, null until measured, plus the config facts a report needs."""
    keys = ("params", "flops", "macs", "feature_map", "size_mb", "test_acc", "test_loss", "best_val_acc",
            "train_time_s", "throughput", "device")
    plain = (lambda v: None if v is None else str(v))  # the schema's enums as the strings they stand for
    return {"model": cfg.model.name, "ablation": cfg.ablation.name, "seed": int(cfg.seed), "status": "running",
            **dict.fromkeys(keys), "epochs": 0, **provenance(), "history": [],
            "experiment": cfg.name, "data": cfg.data.name, "data_archive": cfg.data.get("archive"),
            "links": bool(cfg.ablation.links), "merge": plain(cfg.ablation.merge), "head": plain(cfg.ablation.get("head")),
            "residual": bool(cfg.ablation.get("residual", True)), "width_mult": float(cfg.model.get("width_mult", 1.0)),
            "match": plain(cfg.ablation.get("match")), "match_target": None, "match_width_mult": None,
            "match_ratio": None, "match_gap": None, "deterministic": bool(cfg.trainer.get("deterministic", False)),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **cluster_job()}


def archive_previous(run_dir: Path, with_checkpoint: bool) -> None:
    """Move an earlier attempt's record aside: nothing is ever lost. To start afresh (``trainer.overwrite``)
    its checkpoint and W&B run go too, so the new attempt is a new W&B run rather than the old one reopened."""
    dest = run_dir / "previous" / datetime.now().strftime("%Y%m%d-%H%M%S")
    dest.mkdir(parents=True, exist_ok=True)
    fresh = (CHECKPOINT, WANDB_ID, "wandb", "weights.pt")
    for name in (METRICS, ERROR, *fresh) if with_checkpoint else (METRICS, ERROR):
        if (run_dir / name).exists():
            shutil.move(str(run_dir / name), dest / name)
    log.info(f"Earlier attempt's record moved to {dest}")


def train_and_test(cfg: DictConfig, run_dir: Path, record: dict) -> dict:
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
    log.info(f"Data {cfg.data.name}: {splits.sizes()} ({'archive ' + str(cfg.data.archive) if cfg.data.get('archive') else 'torchvision/synthetic'})")
    model = spec.build()
    record.update(measure(model, int(cfg.data.image_size)), head=model.head_kind)
    log.info(f"Model {cfg.model.name} ({cfg.ablation.name}): {record['params']:,} params, "
             f"{record['macs'] / 1e6:.1f}M MACs, features {record['feature_map']}")
    memory_format = memory_format_for(model, cfg.trainer.channels_last, device)
    record.update(channels_last=memory_format == torch.channels_last, threads=torch.get_num_threads())
    model = model.to(device, memory_format=memory_format)
    train, val, test = make_loaders(splits, cfg.data, cfg.trainer, int(cfg.seed), device)
    resuming = bool(cfg.trainer.resume) and (run_dir / CHECKPOINT).exists()
    record["init_lottery"] = init_lottery(model, spec.build, train, cfg, run_dir, resuming)
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    tags = [cfg.model.name, cfg.ablation.name, cfg.data.name]
    name = run_name(run_dir, Path(cfg.paths.experiments_dir) / cfg.name)
    with make_tracker(cfg.logger, run_dir, config, name=name, tags=tags) as tracker, \
            StallWatchdog(cfg.trainer.get("stall_timeout_s"), run_dir / ERROR, lambda msg: record_stall(run_dir, record, msg)):
        def on_epoch(row: dict) -> None:
            record["epochs"] = row["epoch"]  # the record shows progress should the run stall
            tracker.log_epoch(row)

        trainer = Trainer(model, train, val, cfg.trainer, cfg.optimizer, run_dir / CHECKPOINT, on_epoch=on_epoch)
        fit = trainer.fit()
        record.update(status=fit.status, history=fit.history, epochs=len(fit.history), best_val_acc=fit.best_val_acc,
                      best_epoch=fit.best_epoch, train_time_s=round(fit.train_time_s, 3),
                      throughput=round(fit.throughput, 2), resumed_from_epoch=fit.resumed_from, notes=fit.notes)
        if fit.status == "completed":
            record["test_loss"], record["test_acc"] = trainer.evaluate(test)  # once, selected weights
            log.info(f"Test ({len(splits.y_test)} images, weights of epoch {fit.best_epoch}): "
                     f"acc {record['test_acc']:.4f} loss {record['test_loss']:.4f}")
            tracker.log_weights(model, {k: record[k] for k in ("model", "ablation", "seed", "best_epoch",
                                                               "best_val_acc", "test_acc", "params")})
        tracker.summary(record)
    return record


def record_stall(run_dir: Path, record: dict, message: str) -> None:
    """The watchdog's last act (on its own thread; the main thread is stuck): the run is failed, reason stalled."""
    record.update(status="failed", reason="stalled", error=message,
                  finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_json_atomic(run_dir / METRICS, record)


def execute(cfg: DictConfig, run_dir: Path, multirun: bool = False) -> float | None:
    """Run one configuration in ``run_dir``; return its best validation accuracy (the tuning objective)."""
    run_dir = Path(run_dir)
    check_fields(cfg)  # keys added with + that the schema does not know fail even for a finished run
    run_dir.mkdir(parents=True, exist_ok=True)
    status = run_status(run_dir)
    if status in FINAL and not cfg.trainer.overwrite:
        done = read_metrics(run_dir) or {}
        log.info(f"Already {status}: {run_dir} (test_acc={done.get('test_acc')}); "
                 f"kept as is. Pass trainer.overwrite=true to train it again.")
        return done.get("best_val_acc")
    check_run_config(cfg)
    job = cluster_job()["slurm_job_id"]
    with lock_run(run_dir, f"on {socket.gethostname()}" + (f" in SLURM job {job}" if job else "")):
        if status in ("failed", "unknown") or (status in FINAL and cfg.trainer.overwrite):
            archive_previous(run_dir, with_checkpoint=bool(cfg.trainer.overwrite))  # a failed run resumes
        record = base_record(cfg)
        started = time.perf_counter()
        try:
            record = train_and_test(cfg, run_dir, record)
        except Exception as err:
            record.update(status="failed", error=f"{type(err).__name__}: {err}")
            (run_dir / ERROR).write_text(traceback.format_exc())
            if not multirun:  # run.py prints the error itself, in a line
                log.error(f"Run failed (traceback in {run_dir / ERROR})")
                raise
            log.error(f"Run failed: {record['error']} (traceback in {run_dir / ERROR})")
        finally:
            record["wall_time_s"] = round(time.perf_counter() - started, 3)
            record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            write_json_atomic(run_dir / METRICS, record)
    return record.get("best_val_acc")
