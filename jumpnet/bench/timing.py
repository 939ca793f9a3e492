"""Timing one model: its fast path in fp32 and in bf16, its plain loop (and compiled fast paths), alternated, the
median kept.

Every path trains through the same ``Trainer.train_step`` at a constant learning
rate (a schedule would only add noise to a timing) and is timed by the same
``ImageTimer`` that ``metrics.json``'s ``throughput`` comes from. The fast path is
timed at both precisions (``trainer.precision=fp32`` and ``bf16``) side by side;
``fast_img_s`` is the one ``trainer.precision=auto`` picks on this device
(``jumpnet.train.precision``), what a run here trains at and ``make plan`` prices.
"""
from __future__ import annotations

import copy
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from jumpnet.bench.settings import BenchSettings
from jumpnet.config.compose import compose_config
from jumpnet.data.archive import load_archive
from jumpnet.data.fast_loader import BatchLoader, channel_stats
from jumpnet.data.plain_loader import PlainLoader
from jumpnet.data.synthetic import synthetic_arrays
from jumpnet.models.cost import TRAIN_FLOPS_PER_FORWARD, measure
from jumpnet.models.factory import build_model
from jumpnet.train.loop import Trainer
from jumpnet.train.precision import resolve_precision
from jumpnet.train.throughput import ImageTimer

PRECISION_PATHS = ("fp32", "bf16")  # the fast path at each trainer.precision, timed side by side


def bench_images(n: int, archive: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` uint8 NHWC training images and labels, and a line saying where they came from."""
    if archive:
        arrays = load_archive(archive, str(Path(tempfile.gettempdir()) / "jumpnet-bench-data"))
        idx = np.resize(np.arange(len(arrays.y_train)), n)
        return arrays.x_train[idx], arrays.y_train[idx], f"CIFAR training images from {archive}"
    arrays = synthetic_arrays(10, 32, n, 0)
    return arrays.x_train, arrays.y_train, "synthetic uint8 32x32x3 images, 10 classes (jumpnet.data.sources)"


def peak_memory_mib(device: torch.device) -> dict:
    """CUDA: peak allocated since the last reset. CPU: the process's and its workers' peak RSS (monotone)."""
    if device.type == "cuda":
        return {"peak_mem_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mib": round(own, 1), "workers_peak_rss_mib": round(workers, 1)}


def timed_epoch(trainer: Trainer) -> float:
    """Images/s of one pass over the trainer's loader, timed as ``Trainer._train_epoch`` times it."""
    trainer.model.train()
    timer = ImageTimer(trainer.device).start()
    for x, y in trainer.train_loader:
        trainer.train_step(x, y)
        timer.count(len(y))
    timer.stop()
    return timer.images_per_s


def make_trainer(cfg: DictConfig, model: torch.nn.Module, loader, ckpt: Path, fast: bool = True,
                 compile_mode: str | None = None, backend: str = "inductor", precision: str = "auto") -> Trainer:
    """A ``Trainer`` for timing: ``cfg.trainer`` with the path's fast/compile/precision settings, at a constant lr."""
    tcfg = copy.deepcopy(cfg.trainer)
    tcfg.fast, tcfg.compile, tcfg.precision = fast, compile_mode or False, precision
    return Trainer(model, loader, None, tcfg, cfg.optimizer, ckpt, compile_backend=backend, constant_lr=True)


def bench_model(name: str, settings: BenchSettings, images: tuple[np.ndarray, np.ndarray]) -> dict:
    """One model's row (``model=name`` with ``settings.overrides``), every path timed alternately."""
    cfg = compose_config([f"model={name}", "logger=none", *settings.overrides])
    device, x, y = settings.torch_device, *images
    torch.manual_seed(0)
    model = build_model(cfg)
    cost = measure(model, int(cfg.data.image_size))
    plain_model = copy.deepcopy(model).to(device)  # a typical loop: NCHW, fp32
    channels_last = settings.fast_channels_last
    fast_model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    mean, std = channel_stats(x)
    common = dict(device=device, mean=mean, std=std, train=True, crop_padding=int(cfg.data.crop_padding),
                  flip=bool(cfg.data.flip), seed=0)
    fast_loader = BatchLoader(x, y, settings.batch_size, channels_last=channels_last, **common)
    plain_loader = PlainLoader(x, y, settings.batch_size, num_workers=settings.workers, **common)
    with tempfile.TemporaryDirectory() as tmp:
        # fast path at fp32 and at bf16 (each its own copy of the weights), the plain fp32 loop, compiled modes
        paths = {"fp32": (fast_model, fast_loader, True, None, "fp32"),
                 "bf16": (copy.deepcopy(fast_model), fast_loader, True, None, "bf16"),
                 "plain": (plain_model, plain_loader, False, None, "fp32"),
                 **{mode: (copy.deepcopy(fast_model), fast_loader, True, mode, "auto") for mode in settings.compile}}
        trainers = {k: make_trainer(cfg, m, ld, Path(tmp) / f"{k}.pt", f, c, settings.compile_backend, prec)
                    for k, (m, ld, f, c, prec) in paths.items()}
        runs, warmup_s, memory = time_paths(trainers, settings, device)
    auto = resolve_precision("auto", device)
    runs["fast"], warmup_s["fast"], memory["fast"] = runs[auto], warmup_s[auto], memory[auto]
    return model_row(name, cost, runs, warmup_s, memory, settings.compile, auto)


def time_paths(trainers: dict[str, Trainer], settings: BenchSettings,
               device: torch.device) -> tuple[dict[str, list[float]], dict[str, float], dict[str, dict]]:
    """Warm every path up, then ``settings.repeats`` rounds of one timed epoch per path, alternating:
    fast, plain(, compiled), fast, plain, ... so that load from other jobs hits them alike."""
    runs: dict[str, list[float]] = {path: [] for path in trainers}
    warmup_s, memory = {}, {}
    for path, trainer in trainers.items():
        started = time.perf_counter()
        for _ in range(settings.warmup):
            timed_epoch(trainer)
        warmup_s[path] = round(time.perf_counter() - started, 2)
    for _ in range(settings.repeats):
        for path, trainer in trainers.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            runs[path].append(timed_epoch(trainer))
            memory[path] = peak_memory_mib(device)
    return runs, warmup_s, memory


def model_row(name: str, cost: dict, runs: dict[str, list[float]], warmup_s: dict[str, float],
              memory: dict[str, dict], compile_modes: tuple[str, ...], precision: str = "fp32") -> dict:
    """Medians, their ratio and TFLOP/s, every run, warm-up times, peak memory (``warmup_s[mode]``: compile time).

    ``runs["fast"]`` is the fast path at ``precision`` (what ``auto`` picks here); ``runs["fp32"]`` and
    ``runs["bf16"]``, when timed, give the side-by-side columns and their ratio."""
    fast, plain = statistics.median(runs["fast"]), statistics.median(runs["plain"])
    train_flops = TRAIN_FLOPS_PER_FORWARD * cost["flops"]
    row = {"model": name, "params": cost["params"], "flops": cost["flops"], "macs": cost["macs"],
           "fast_img_s": round(fast, 2), "plain_img_s": round(plain, 2), "ratio": round(fast / plain, 3),
           "fast_tflops": round(fast * train_flops / 1e12, 4), "plain_tflops": round(plain * train_flops / 1e12, 4),
           "fast_runs": [round(v, 2) for v in runs["fast"]], "plain_runs": [round(v, 2) for v in runs["plain"]],
           "warmup_s": warmup_s, "precision": precision}
    if all(p in runs for p in PRECISION_PATHS):
        fp32, bf16 = (statistics.median(runs[p]) for p in PRECISION_PATHS)
        row.update({"fp32_img_s": round(fp32, 2), "bf16_img_s": round(bf16, 2), "bf16_x": round(bf16 / fp32, 3),
                    "fp32_runs": [round(v, 2) for v in runs["fp32"]], "bf16_runs": [round(v, 2) for v in runs["bf16"]]})
    for path in ("fast", "plain"):
        row.update({f"{path}_{k}": v for k, v in memory[path].items()})
    if compile_modes:
        row["compiled"] = {mode: {"img_s": round(statistics.median(runs[mode]), 2),
                                  "runs": [round(v, 2) for v in runs[mode]], "warmup_s": warmup_s[mode],
                                  "x_eager": round(statistics.median(runs[mode]) / fast, 3)} for mode in compile_modes}
    return row

