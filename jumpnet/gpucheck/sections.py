"""The measurements of ``gpucheck``, one function per section; each runs in its own child process.

Each takes the profile (``profiles.py``) and what earlier sections found, and
returns a JSON-able dict. They train through the project's own code: the bench's
``bench_model`` (with the ``BenchSettings`` the profile gives), the ``Trainer`` at a
constant learning rate, and ``pipeline.execute`` for the real run.
"""
from __future__ import annotations

import logging
import os
import platform
import socket
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch._dynamo

from jumpnet.bench.timing import bench_images, bench_model, make_trainer, peak_memory_mib, timed_epoch
from jumpnet.config.compose import compose_config
from jumpnet.data.fast_loader import BatchLoader, channel_stats
from jumpnet.gpucheck.profiles import bench_settings
from jumpnet.models.cost import forward_flops
from jumpnet.models.factory import build_model
from jumpnet.run.folder import read_metrics
from jumpnet.run.hardware import cpu_model, device_label
from jumpnet.run.pipeline import execute
from jumpnet.sweep.plan import plan as make_plan
from jumpnet.train.throughput import synchronize

EVAL_COST = 1 / 3  # an evaluated image costs a third of a trained one (forward only)


def setup(profile: dict) -> torch.device:
    """The device of this child, its threads, and cuDNN autotuning as the fast path uses it."""
    torch.set_num_threads(profile["threads"] or len(os.sched_getaffinity(0)))
    device = torch.device(profile["device"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device


def env(profile: dict) -> dict:
    device = setup(profile)
    info = {"device": device_label(device, torch.get_num_threads()), "device_type": device.type,
            "torch": torch.__version__, "python": platform.python_version(), "host": socket.gethostname(),
            "cpu": cpu_model(), "cores": len(os.sched_getaffinity(0))}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count,
                    memory_gib=round(props.total_memory / 2**30, 1))
    return info


def synthetic(profile: dict, steps: int) -> tuple:
    """``steps`` batches of the bench's seeded synthetic images and labels."""
    x, y, _ = bench_images(steps * profile["batch_size"], None)
    return x, y


def models(profile: dict) -> dict:
    """Per model: fast path and plain loop images/s, TFLOP/s, peak memory (``make bench``'s rows)."""

    setup(profile)
    settings = bench_settings(profile)
    images = synthetic(profile, profile["steps"])
    rows, failed = [], []
    for name in profile["models"]:
        own = replace(settings, overrides=tuple(profile["model_overrides"].get(name, [])))
        try:
            rows.append(bench_model(name, own, images))
        except Exception as err:  # one model's failure is recorded, the others still measured
            failed.append({"model": name, "error": f"{type(err).__name__}: {err}"})
    if not rows:
        raise RuntimeError(f"no model could be measured: {failed}")
    return {"rows": rows, "failed": failed, "batch_size": profile["batch_size"], "steps": profile["steps"],
            "repeats": profile["repeats"], "plain_workers": profile["workers"],
            "overrides": profile["model_overrides"], "statistic": "median of repeats"}


def jumpnet_trainer(profile: dict, device: torch.device, compile_mode: str | None, steps: int, ckpt: Path):
    """JumpNet on the bench's fast path (data on the device, channels_last, bf16 on CUDA) with ``compile_mode``."""

    settings = bench_settings(profile)
    cfg = compose_config(["model=jumpnet", "logger=none", *profile["model_overrides"].get("jumpnet", [])])
    torch.manual_seed(0)
    channels_last = settings.fast_channels_last  # as trainer.channels_last=auto: on CUDA and AVX-512 CPUs
    model = build_model(cfg).to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    x, y = synthetic(profile, steps)
    mean, std = channel_stats(x)
    loader = BatchLoader(x, y, settings.batch_size, device, mean, std, train=True, crop_padding=4, flip=True,
                         seed=0, channels_last=channels_last, drop_last=True)
    trainer = make_trainer(cfg, model, loader, ckpt, compile_mode=compile_mode, backend=settings.compile_backend)
    return trainer, forward_flops(lambda: build_model(cfg), 32)


def compile_section(profile: dict, mode: str) -> dict:
    """JumpNet under one ``trainer.compile`` mode: compile time, then steady training and evaluation speed."""

    device = setup(profile)
    compile_mode = None if mode == "off" else mode
    with tempfile.TemporaryDirectory() as tmp:
        trainer, flops = jumpnet_trainer(profile, device, compile_mode, profile["compile_steps"], Path(tmp) / "c.pt")
        started = time.perf_counter()
        for _, (x, y) in zip(range(3), cycle(trainer.train_loader)):  # the first steps hold the compile
            trainer.train_step(x, y)
        synchronize(device)
        first_s = time.perf_counter() - started
        timed_epoch(trainer)  # untimed: the rest of warm-up
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        runs = [timed_epoch(trainer) for _ in range(profile["compile_repeats"])]
        x, y = synthetic(profile, profile["compile_steps"])
        evals = BatchLoader(x[:-7], y[:-7], profile["batch_size"], device, [0.5] * 3, [0.25] * 3,
                            channels_last=trainer.train_loader.memory_format == torch.channels_last)
        eval_s = []
        for _ in range(2):  # a ragged split: its padded last batch must not compile a second graph
            started = time.perf_counter()
            trainer.evaluate(evals)
            synchronize(device)
            eval_s.append(time.perf_counter() - started)
    img_s = statistics.median(runs)
    steady = 3 * profile["batch_size"] / img_s
    graphs = int(torch._dynamo.utils.counters["stats"].get("unique_graphs", 0))
    return {"model": "jumpnet", "mode": compile_mode, "backend": profile["compile_backend"] if compile_mode else None,
            "compile_s": round(max(0.0, first_s - steady), 2), "first_steps_s": round(first_s, 2),
            "img_s": round(img_s, 1), "runs": [round(r, 1) for r in runs], "flops": flops,
            "tflops": round(img_s * 3 * flops / 1e12, 3), "batch_size": profile["batch_size"],
            "graphs_compiled": graphs, "eval_first_s": round(eval_s[0], 3), "eval_s": round(eval_s[1], 3),
            "eval_images": evals.num_images, **peak_memory_mib(device)}


def cycle(loader):
    """Batches of ``loader`` without end, epoch after epoch."""
    while True:
        yield from loader


def train_epochs(profile: dict, img_s: float | None, compile_s: float) -> int:
    """Epochs of all of CIFAR-10 (45k trained, 5k evaluated) that fit in the target time at ``img_s``."""
    if not img_s:
        return max(1, min(5, profile["train_max_epochs"]))
    per_epoch = (45_000 + EVAL_COST * 5_000) / img_s
    fit = int((profile["train_target_s"] - compile_s) / per_epoch)
    return max(1, min(profile["train_max_epochs"], fit))


def train(profile: dict, compile_mode: str | None, img_s: float | None, compile_s: float, archive: str | None,
          out_dir: str) -> dict:
    """One real JumpNet run through ``pipeline.execute``: ``experiment=ablation_quick``'s recipe, shortened."""

    logging.basicConfig(level=logging.INFO, format="    train: %(message)s")  # an epoch line each, as runs log
    epochs = train_epochs(profile, img_s, compile_s)
    overrides = ["experiment=ablation_quick", "model=jumpnet", "logger=none", "name=gpucheck",
                 f"trainer.epochs={epochs}", f"trainer.device={profile['device']}", "trainer.progress=log",
                 f"trainer.compile={compile_mode or 'false'}", f"paths.experiments_dir={out_dir}",
                 *profile["train_data"], *profile["model_overrides"].get("jumpnet", [])]
    if profile["threads"]:
        overrides.append(f"trainer.threads={profile['threads']}")
    if profile["tiny"]:
        overrides += ["trainer.batch_size=32"]
    if archive:
        overrides.append(f"data.archive={archive}")
    cfg = compose_config(overrides)
    run_dir = Path(out_dir) / "jumpnet-full-s0"
    started = time.perf_counter()
    execute(cfg, run_dir, multirun=True)
    record = read_metrics(run_dir) or {}
    if record.get("status") != "completed":
        raise RuntimeError(f"the run ended {record.get('status')}: {record.get('error')}")
    return {"model": "jumpnet", "recipe": "experiment=ablation_quick, shortened", "epochs": record["epochs"],
            "compile": compile_mode, "batch_size": int(cfg.trainer.batch_size), "splits": record.get("splits"),
            "data": cfg.data.name, "archive": cfg.data.get("archive"), "test_acc": record["test_acc"],
            "best_val_acc": record["best_val_acc"], "train_time_s": record["train_time_s"],
            "wall_s": round(time.perf_counter() - started, 1), "throughput": record["throughput"],
            "overrides": overrides}


def plan(profile: dict, device: str, reports: str) -> dict:
    """``make plan``'s totals for the study's presets, from the figures this check just wrote."""

    out = {}
    for overrides in profile["plan_experiments"]:
        text = make_plan(overrides, device_name=device, reports=Path(reports))
        out[" ".join(overrides)] = [line for line in text.splitlines() if line.startswith(("Totals", "Training",
                                                                                            "Estimated", "With"))]
    return {"device": device, "plans": out}
