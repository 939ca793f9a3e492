"""Reproduce the CPU crash/hang behind ``trainer.channels_last=auto`` and check which models hit it.

oneDNN's AVX2 kernel for the weight gradient of a 1x1 convolution with stride > 1
and 2-7 input channels, in channels_last, corrupts the heap with one OpenMP
thread (segfault, ``free(): invalid next size``, ``double free``) and hangs with
two. Contiguous (NCHW) tensors and AVX-512 kernels are fine. Seen with
torch 2.14.1+cu130 (oneDNN 3.12) on AMD EPYC CPUs; on an AVX-512 CPU the AVX2
kernels are forced with ``ONEDNN_MAX_CPU_ISA=AVX2``, so this reproduces on any
x86-64 machine.

A second, separate effect: several 2-thread trainings sharing the cores with
OpenMP's default (active, spinning) wait policy crawl at a small fraction of
their speed, which looks like a hang; ``OMP_WAIT_POLICY=passive`` or one thread
per process avoids it (``--oversubscribe``).

    python tools/onednn_avx2_repro.py                 # the kernel table: shapes x formats x threads x ISA
    python tools/onednn_avx2_repro.py --models        # every model and ablation variant: 3 channels_last steps
    python tools/onednn_avx2_repro.py --oversubscribe # 3 concurrent trainings per thread/wait-policy setting
    python tools/onednn_avx2_repro.py --probe conv 1 channels_last 4 8 1 2   # one probe, in this process

Each probe runs in its own process with a timeout: ``ok``, ``crashed (<signal>)`` or ``hung``
(with ``OMP_WAIT_POLICY=passive``, so that a slow, oversubscribed machine is not mistaken for a hang).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (in_channels, out_channels, kernel, stride): the failing pattern first, then its neighbours.
SHAPES = [(4, 8, 1, 2), (2, 16, 1, 2), (7, 8, 1, 2), (1, 8, 1, 2), (8, 16, 1, 2), (12, 24, 1, 2), (4, 8, 1, 1),
          (4, 8, 3, 2)]
MODELS = ["jumpnet", "resnet_v2", "resnet_v2_110", "densenet", "densenet40", "sparsenet", "plain_cnn"]
TINY = ["tiny_jumpnet", "tiny_resnet_v2", "tiny_densenet", "tiny_sparsenet", "tiny_plain_cnn"]
ABLATIONS = ["full", "no_links", "add"]


def probe_conv(threads: int, fmt: str, cin: int, cout: int, kernel: int, stride: int, steps: int = 100) -> None:
    import torch  # noqa: PLC0415 - in the probe's child, after ONEDNN_MAX_CPU_ISA is set: oneDNN reads it on load

    torch.set_num_threads(threads)
    memory_format = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    conv = torch.nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
    conv = conv.to(memory_format=memory_format)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.randn(64, cin, 16, 16, generator=gen).contiguous(memory_format=memory_format)
        conv(x).sum().backward()  # the weight gradient is the failing kernel


def probe_model(threads: int, fmt: str, overrides: list[str], steps: int = 3, report: bool = False) -> None:
    import torch  # noqa: PLC0415 - in the probe's child, after ONEDNN_MAX_CPU_ISA is set: oneDNN reads it on load

    sys.path.insert(0, str(ROOT))
    from jumpnet.config.compose import compose_config  # noqa: PLC0415 - the project, found from this script's folder
    from jumpnet.models.factory import build_model  # noqa: PLC0415 - the project, found from this script's folder

    torch.set_num_threads(threads)
    memory_format = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    cfg = compose_config([f"hydra.searchpath=[file://{ROOT / 'tests' / 'conf'}]", *overrides])
    model = build_model(cfg).to(memory_format=memory_format)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.randn(8, 3, 32, 32, generator=gen).contiguous(memory_format=memory_format)
        loss = model(x).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if report:
            print("step", flush=True)


def run_probe(args: list[str], isa: str | None, timeout: float) -> str:
    """One probe in a fresh process: ``ok``, ``crashed (SIGSEGV)`` or ``hung``."""
    # The passive wait policy keeps the oversubscription crawl (--oversubscribe) out of these tables.
    env = {**os.environ, "PYTHONFAULTHANDLER": "0", "OMP_WAIT_POLICY": "passive"}
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    try:
        out = subprocess.run([sys.executable, __file__, "--probe", *args], env=env, capture_output=True,
                             text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return "hung"
    if out.returncode == 0:
        return "ok"
    if out.returncode < 0:
        return f"crashed ({signal.Signals(-out.returncode).name})"
    return f"error (exit {out.returncode}): {(out.stderr.strip().splitlines() or [''])[-1][:80]}"


def oversubscribed_table(steps: int, copies: int, timeout: float) -> list[str]:
    """``copies`` concurrent tiny-ResNet trainings (contiguous, native ISA) per setting: seconds, or steps done."""
    rows = [f"| setting ({copies} processes at once, {steps} steps each) | wall s per process | steps done |",
            "|---|---|---|"]
    settings = [("1 thread", "1", {}), ("2 threads, OMP_WAIT_POLICY=active", "2", {"OMP_WAIT_POLICY": "active"}),
                ("2 threads, OMP_WAIT_POLICY=passive", "2", {"OMP_WAIT_POLICY": "passive"})]
    for label, threads, extra in settings:
        env = {**os.environ, **extra}
        env.pop("ONEDNN_MAX_CPU_ISA", None)
        started = time.monotonic()
        procs = [subprocess.Popen([sys.executable, __file__, "--probe", "steps", threads, "contiguous", str(steps),
                                   "model=tiny_resnet_v2"], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
                 for _ in range(copies)]
        walls, done = [], []
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=max(1.0, timeout - (time.monotonic() - started)))
                walls.append(f"{time.monotonic() - started:.0f}")
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                walls.append(f"> {timeout:.0f} (stopped)")
            done.append(str(out.count("step")))
        rows.append(f"| {label} | {', '.join(walls)} | {', '.join(done)} |")
        print(rows[-1], flush=True)
    return rows


def kernel_table(timeout: float) -> list[str]:
    rows = ["| conv (in, out, kernel, stride) | ISA | threads | channels_last | contiguous |", "|---|---|---|---|---|"]
    for cin, cout, kernel, stride in SHAPES:
        for isa in ("AVX2", None):
            for threads in (1, 2):
                cells = [run_probe(["conv", str(threads), fmt, str(cin), str(cout), str(kernel), str(stride)], isa,
                                   timeout) for fmt in ("channels_last", "contiguous")]
                rows.append(f"| {cin}, {cout}, {kernel}x{kernel}, {stride} | {isa or 'native'} | {threads} | "
                            f"{cells[0]} | {cells[1]} |")
                print(rows[-1], flush=True)
    return rows


def model_table(timeout: float) -> list[str]:
    rows = ["| model | ablation | extra | channels_last, 1 thread | channels_last, 2 threads | contiguous, 2 threads |",
            "|---|---|---|---|---|---|"]
    cases = [(m, a, []) for m in MODELS + TINY for a in ABLATIONS]
    cases += [(m, "full", [f"model.width_mult={w}"]) for m in MODELS for w in (0.25, 0.5)]
    for model, ablation, extra in cases:
        overrides = [f"model={model}", f"ablation={ablation}", *extra]
        cells = [run_probe(["model", str(t), fmt, *overrides], "AVX2", timeout)
                 for t, fmt in ((1, "channels_last"), (2, "channels_last"), (2, "contiguous"))]
        if all(c.startswith("error") for c in cells):  # e.g. a combination the model rejects, or no width_mult
            continue
        rows.append(f"| {model} | {ablation} | {' '.join(extra)} | {' | '.join(cells)} |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", action="store_true", help="check every model and ablation variant instead")
    parser.add_argument("--oversubscribe", action="store_true", help="concurrent 2-thread trainings, by wait policy")
    parser.add_argument("--steps", type=int, default=200, help="--oversubscribe: training steps per process")
    parser.add_argument("--copies", type=int, default=3, help="--oversubscribe: processes at once")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds before a probe counts as hung (--oversubscribe: per setting, default 300)")
    parser.add_argument("--probe", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        kind, threads, fmt, *rest = args.probe
        if kind == "conv":
            probe_conv(int(threads), fmt, *map(int, rest))
        elif kind == "steps":
            probe_model(int(threads), fmt, rest[1:], steps=int(rest[0]), report=True)
        else:
            probe_model(int(threads), fmt, rest)
        return 0
    import torch  # noqa: PLC0415 - the parent only reports versions; probes run in children with their own ISA cap

    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"ISA 'AVX2' = ONEDNN_MAX_CPU_ISA=AVX2, 'native' = what oneDNN picks here", flush=True)
    if args.oversubscribe:
        timeout = args.timeout if args.timeout != parser.get_default("timeout") else 300.0
        rows = oversubscribed_table(args.steps, args.copies, timeout)
    else:
        rows = model_table(args.timeout) if args.models else kernel_table(args.timeout)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
