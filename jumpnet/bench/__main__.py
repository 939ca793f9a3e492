"""``python -m jumpnet.bench``: the command line of ``make bench`` (see the package docstring).

    python -m jumpnet.bench [--models jumpnet densenet] [--steps N] [--repeats N] [--device cpu|cuda]
                            [--batch-size 128] [--compile [MODE ...]] [--out reports/bench/bench.json]
                            [--override model.stem=[4,8] ...]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

import jumpnet.bench
from jumpnet.bench.output import bench_record, row_line, table, write_outputs
from jumpnet.bench.settings import DEFAULT_OUT, BenchSettings
from jumpnet.bench.timing import bench_images, bench_model
from jumpnet.config.choices import COMPILE_MODES, STUDY_MODELS
from jumpnet.errors import run_cli
from jumpnet.paths import CONF_DIR
from jumpnet.run.hardware import device_label


def parse_args(argv: list[str] | None = None) -> BenchSettings:
    p = argparse.ArgumentParser(prog="python -m jumpnet.bench", description=jumpnet.bench.__doc__.split("\n\n")[0])
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
    models = args.models or [m for m in STUDY_MODELS if (CONF_DIR / "model" / f"{m}.yaml").exists()]
    compile_modes = ["default"] if args.compile == [] else args.compile or []  # --compile alone: default
    return BenchSettings.for_device(
        args.device, steps=args.steps, repeats=args.repeats, warmup=args.warmup, batch_size=args.batch_size,
        workers=args.workers, threads=args.threads, compile=tuple(compile_modes), channels_last=args.channels_last,
        overrides=tuple(args.override), models=tuple(models), archive=args.archive or None, out=args.out)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    device = settings.torch_device
    torch.set_num_threads(settings.threads or len(os.sched_getaffinity(0)))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    x, y, source = bench_images(settings.steps * settings.batch_size, settings.archive)
    dev_name = device_label(device, torch.get_num_threads())
    print(f"bench on {dev_name}, {torch.get_num_threads()} threads, batch {settings.batch_size}, {settings.steps} "
          f"steps x {settings.repeats} repeats (+{settings.warmup} warm-up) per path; plain loop with "
          f"{settings.plain_workers} workers; data: {source}", flush=True)
    rows, failed = [], []
    for name in settings.models:
        try:
            row = bench_model(name, settings, (x, y))
        except Exception as err:  # one broken model must not cost the others' numbers
            failed.append({"model": name, "error": f"{type(err).__name__}: {err}"})
            print(f"  {name}: FAILED {failed[-1]['error']}", file=sys.stderr, flush=True)
            continue
        rows.append(row)
        print(row_line(row), flush=True)
    md = table(rows, device) if rows else "(no model measured)"
    print(md)
    write_outputs(settings, bench_record(settings, dev_name, source, rows, failed), md)
    return 1 if failed else 0


if __name__ == "__main__":
    run_cli(main)
