"""``make bench``: training images/s of each model, fast path vs a plain PyTorch loop, in one process.

Fast path: the split held on the device as uint8, batched crop/flip/normalize
there (``BatchLoader``), channels_last as ``trainer.channels_last`` resolves it
(``--channels-last``; auto: CUDA only), bf16 autocast on CUDA; with ``--compile
MODE ...`` also the fast path under each ``torch.compile`` mode (its warm-up
epoch's time, ``warmup_s``, holds the compile time). Plain loop: torchvision
transforms per image in DataLoader workers (``PlainLoader``), fp32, contiguous
NCHW, as most CIFAR code is written. Both train through the same ``Trainer.train_step`` and are
timed by the same ``jumpnet.train.throughput.ImageTimer`` that ``metrics.json``'s
``throughput`` comes from.

Per model: one warm-up epoch of ``--steps`` batches per path (worker start-up,
allocator, cuDNN/compile), then ``--repeats`` timed epochs per path,
alternating the paths so that load from other jobs hits them alike; the
median is reported. Data: seeded synthetic uint8 CIFAR-shaped images (what is
measured does not depend on pixel values), or the real training images when
``JUMPNET_DATA_ARCHIVE`` (or ``--archive``) names a CIFAR ImageFolder tar.

    python -m jumpnet.bench [--models jumpnet densenet] [--steps N] [--repeats N] [--device cpu|cuda]
                            [--batch-size 128] [--compile [MODE ...]] [--out reports/bench/bench.json]
                            [--override model.stem=[4,8] ...]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from jumpnet.config.compose import compose_config
from jumpnet.config.schema import COMPILE_MODES, STUDY_MODELS
from jumpnet.data.archive import load_archive
from jumpnet.data.fast_loader import BatchLoader, channel_stats
from jumpnet.data.plain_loader import PlainLoader, default_workers
from jumpnet.data.synthetic import synthetic_arrays
from jumpnet.models.cost import TRAIN_FLOPS_PER_FORWARD, measure
from jumpnet.models.factory import build_model
from jumpnet.paths import CONF_DIR, REPORTS_DIR
from jumpnet.run.hardware import device_label
from jumpnet.train.loop import Trainer
from jumpnet.train.memory_format import use_channels_last
from jumpnet.train.throughput import ImageTimer

DEFAULT_OUT = REPORTS_DIR / "bench" / "bench.json"
# CPU: a few minutes for all models on 2 cores (DenseNet-BC-100 trains ~19 img/s there).
DEFAULTS = {"cpu": {"steps": 2, "repeats": 3}, "cuda": {"steps": 50, "repeats": 5}}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jumpnet.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=None,
                   help="config names under conf/model/ (default: the study's five)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps per timed epoch (default: 2 on CPU, 50 on CUDA)")
    p.add_argument("--repeats", type=int, default=None, help="timed epochs per path (default: 3 on CPU, 5 on CUDA)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs per path first (default 1)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores available)")
    p.add_argument("--workers", type=int, default=None, help="plain loop's DataLoader workers (default min(2, cores))")
    p.add_argument("--compile", nargs="*", default=None, choices=COMPILE_MODES, metavar="MODE",
                   help="also time the fast path compiled in each MODE (default, max-autotune, reduce-overhead; "
                        "default when none is named), alternating with the eager paths")
    p.add_argument("--channels-last", default="auto", choices=("auto", "true", "false"),
                   help="the fast path's memory format, as trainer.channels_last (default auto: on CUDA and on "
                        "CPUs whose oneDNN runs AVX-512)")
    p.add_argument("--archive", default=os.environ.get("JUMPNET_DATA_ARCHIVE"),
                   help="CIFAR ImageFolder tar to take images from (default $JUMPNET_DATA_ARCHIVE; else synthetic)")
    p.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides, e.g. model.stem=[4,8]")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON written here; the table beside it as .md")
    args = p.parse_args(argv)
    if args.compile == []:  # --compile alone
        args.compile = ["default"]
    return args


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


def make_trainer(cfg, model: torch.nn.Module, loader, fast: bool, compile_: str | None, ckpt: Path,
                 backend: str = "inductor") -> Trainer:
    tcfg = copy.deepcopy(cfg.trainer)
    tcfg.fast, tcfg.compile = fast, compile_ or False
    tcfg.epochs = 10**6  # keep the lr schedule flat-ish: the bench never reaches its end
    return Trainer(model, loader, None, tcfg, cfg.optimizer, ckpt, compile_backend=backend)


def bench_model(name: str, args: argparse.Namespace, device: torch.device, images: tuple,
                overrides: list[str] | None = None) -> dict:
    """One model's row; ``overrides`` (default ``args.override``) are extra Hydra overrides for it."""
    cfg = compose_config([f"model={name}", "logger=none", *(args.override if overrides is None else overrides)])
    x, y = images
    torch.manual_seed(0)
    model = build_model(cfg)
    cost = measure(model, int(cfg.data.image_size))
    plain_model = copy.deepcopy(model).to(device)  # a typical loop: NCHW, fp32
    channels_last = use_channels_last(args.channels_last, device)
    fast_model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    mean, std = channel_stats(x)
    common = dict(device=device, mean=mean, std=std, train=True, crop_padding=int(cfg.data.crop_padding),
                  flip=bool(cfg.data.flip), seed=0)
    fast_loader = BatchLoader(x, y, args.batch_size, channels_last=channels_last, **common)
    plain_loader = PlainLoader(x, y, args.batch_size, num_workers=args.workers, **common)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"fast": (fast_model, fast_loader, True, None), "plain": (plain_model, plain_loader, False, None),
                 **{mode: (copy.deepcopy(fast_model), fast_loader, True, mode) for mode in args.compile or []}}
        backend = getattr(args, "compile_backend", "inductor")
        trainers = {k: make_trainer(cfg, m, ld, f, c, Path(tmp) / f"{k}.pt", backend)
                    for k, (m, ld, f, c) in paths.items()}
        runs: dict[str, list[float]] = {path: [] for path in paths}
        warmup_s, memory = {}, {}
        for path, trainer in trainers.items():
            started = time.perf_counter()
            for _ in range(args.warmup):
                timed_epoch(trainer)
            warmup_s[path] = round(time.perf_counter() - started, 2)
        for _ in range(args.repeats):
            for path, trainer in trainers.items():  # alternating: fast, plain(, compiled), fast, plain, ...
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                runs[path].append(timed_epoch(trainer))
                memory[path] = peak_memory_mib(device)
    fast, plain = statistics.median(runs["fast"]), statistics.median(runs["plain"])
    train_flops = TRAIN_FLOPS_PER_FORWARD * cost["flops"]
    row = {"model": name, "params": cost["params"], "flops": cost["flops"], "macs": cost["macs"],
           "fast_img_s": round(fast, 2), "plain_img_s": round(plain, 2), "ratio": round(fast / plain, 3),
           "fast_tflops": round(fast * train_flops / 1e12, 4), "plain_tflops": round(plain * train_flops / 1e12, 4),
           "fast_runs": [round(v, 2) for v in runs["fast"]], "plain_runs": [round(v, 2) for v in runs["plain"]],
           "warmup_s": warmup_s}
    for path, mem in memory.items():
        if path in ("fast", "plain"):
            row.update({f"{path}_{k}": v for k, v in mem.items()})
    if args.compile:  # warmup_s[mode] holds the compile time
        row["compiled"] = {mode: {"img_s": round(statistics.median(runs[mode]), 2),
                                  "runs": [round(v, 2) for v in runs[mode]], "warmup_s": warmup_s[mode],
                                  "x_eager": round(statistics.median(runs[mode]) / fast, 3)} for mode in args.compile}
    return row


def table(rows: list[dict], device: torch.device) -> str:
    df = pd.DataFrame(rows)
    cols = {"model": "model", "params": "params", "flops": "fwd GFLOPs/img", "fast_img_s": "fast img/s",
            "plain_img_s": "plain img/s", "ratio": "fast/plain", "fast_tflops": "fast TFLOP/s",
            "plain_tflops": "plain TFLOP/s"}
    mem = ({"fast_peak_mem_mib": "fast peak MiB", "plain_peak_mem_mib": "plain peak MiB"} if device.type == "cuda"
           else {"plain_peak_rss_mib": "peak RSS MiB (process so far)",
                 "plain_workers_peak_rss_mib": "workers' peak RSS MiB (so far)"})
    formats = {"params": "{:,}", "flops": "{:.3f}", "fast_img_s": "{:.1f}", "plain_img_s": "{:.1f}", "ratio": "{:.2f}",
               "fast_tflops": "{:.4f}", "plain_tflops": "{:.4f}"}
    df["flops"] = df["flops"] / 1e9
    for mode in (rows[0].get("compiled") or {}):
        cols[f"{mode}_img_s"] = f"{mode} img/s"
        formats[f"{mode}_img_s"] = "{:.1f}"
        df[f"{mode}_img_s"] = [r["compiled"][mode]["img_s"] for r in rows]
    for col in df:
        fmt = formats.get(col, "{:.0f}" if col.endswith("_mib") else None)
        if fmt:
            df[col] = df[col].map(fmt.format)
    df = df[[c for c in {**cols, **mem} if c in df]].rename(columns={**cols, **mem})
    return df.to_markdown(index=False, disable_numparse=True, colalign=["left"] + ["right"] * (len(df.columns) - 1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    for key, value in DEFAULTS[device.type].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    models = args.models or [m for m in STUDY_MODELS if (CONF_DIR / "model" / f"{m}.yaml").exists()]
    x, y, source = bench_images(args.steps * args.batch_size, args.archive)
    dev_name = device_label(device, torch.get_num_threads())
    print(f"bench on {dev_name}, {torch.get_num_threads()} threads, batch {args.batch_size}, {args.steps} steps x "
          f"{args.repeats} repeats (+{args.warmup} warm-up) per path; plain loop with "
          f"{default_workers() if args.workers is None else args.workers} workers; data: {source}", flush=True)
    rows = []
    failed = []
    for name in models:
        try:
            row = bench_model(name, args, device, (x, y))
        except Exception as err:  # one broken model must not cost the others' numbers
            failed.append({"model": name, "error": f"{type(err).__name__}: {err}"})
            print(f"  {name}: FAILED {failed[-1]['error']}", file=sys.stderr, flush=True)
            continue
        rows.append(row)
        compiled = "".join(f"; {mode} {c['img_s']:.1f} img/s, x{c['x_eager']:.2f} of eager, warm-up {c['warmup_s']} s "
                           f"(runs {c['runs']})" for mode, c in (row.get("compiled") or {}).items())
        print(f"  {name}: fast {row['fast_img_s']:.1f} img/s, plain {row['plain_img_s']:.1f} img/s, "
              f"x{row['ratio']:.2f} (runs {row['fast_runs']} vs {row['plain_runs']}){compiled}", flush=True)
    md = table(rows, device) if rows else "(no model measured)"
    print(md)
    record = {"device": dev_name, "device_type": device.type, "torch": torch.__version__,
              "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "threads": torch.get_num_threads(), "batch_size": args.batch_size, "steps": args.steps,
              "repeats": args.repeats, "warmup_epochs": args.warmup, "compile": args.compile or False,
              "fast_channels_last": use_channels_last(args.channels_last, device),
              "plain_workers": default_workers() if args.workers is None else args.workers,
              "data": source, "overrides": args.override, "statistic": "median of repeats",
              "train_flops_per_image": f"{TRAIN_FLOPS_PER_FORWARD} x forward FLOPs (torch.utils.flop_counter)",
              "models": rows, "failed": failed}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(md + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 1 if failed else 0


if __name__ == "__main__":
    from jumpnet.errors import run_cli

    run_cli(main)
