"""Aggregate training speed of k JumpNet trainings sharing one GPU, as k real processes.

Small CIFAR networks leave a big GPU mostly waiting on kernel launches; several
processes fill those gaps (``trainer.runs_per_gpu``). For each k, k workers are
forked, each builds its own JumpNet on the fast path, warms up, waits at a
barrier so that all start together, trains for the same window and reports its
images/s; the aggregate is their sum. Each worker has its own CUDA context, as
separate runs of a sweep would.
"""
from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

import torch

from jumpnet.gpucheck.runner import FORK
from jumpnet.gpucheck.sections import cycle, jumpnet_trainer, setup
from jumpnet.train.throughput import ImageTimer, synchronize

SETUP_TIMEOUT_S = 90  # CUDA context, model, data and warm-up of one worker, with the others starting beside it


def worker(profile: dict, barrier, conn) -> None:
    try:
        k = barrier.parties
        device = setup({**profile, "threads": profile["threads"] or max(1, len(os.sched_getaffinity(0)) // k)})
        with tempfile.TemporaryDirectory() as tmp:
            trainer, _ = jumpnet_trainer(profile, device, None, profile["steps"], Path(tmp) / "w.pt")
            batches = cycle(trainer.train_loader)
            for _ in range(profile["concurrency_warmup_steps"]):
                trainer.train_step(*next(batches))
            synchronize(device)
            barrier.wait(SETUP_TIMEOUT_S)
            timer = ImageTimer(device).start()
            while timer.elapsed() < profile["concurrency_window_s"]:
                x, y = next(batches)
                trainer.train_step(x, y)
                timer.count(len(y))
            timer.stop()
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        conn.send(("ok", {"img_s": timer.images_per_s, "images": timer.images, "seconds": timer.seconds,
                          "peak_mem_mib": None if peak is None else round(peak, 1)}))
    except BaseException as err:
        barrier.abort()  # the others stop waiting for this one
        conn.send(("failed", f"{type(err).__name__}: {err} {traceback.format_exc(limit=-2)}"))
    finally:
        conn.close()


def one_level(profile: dict, k: int) -> dict:
    barrier = FORK.Barrier(k)
    pipes, procs = [], []
    for _ in range(k):
        recv, send = FORK.Pipe(duplex=False)
        proc = FORK.Process(target=worker, args=(profile, barrier, send))
        proc.start()
        send.close()
        pipes.append(recv)
        procs.append(proc)
    deadline = time.monotonic() + SETUP_TIMEOUT_S + profile["concurrency_window_s"] + 60
    results, errors = [], []
    for recv, proc in zip(pipes, procs):
        try:
            if recv.poll(max(0.0, deadline - time.monotonic())):
                status, payload = recv.recv()
                (results if status == "ok" else errors).append(payload)
            else:
                errors.append("no result before the deadline")
        except EOFError:
            errors.append(f"worker died (exit code {proc.exitcode})")
    for proc in procs:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    if errors:
        return {"runs": k, "error": "; ".join(str(e) for e in errors)[:2000]}
    return {"runs": k, "aggregate_img_s": round(sum(r["img_s"] for r in results), 1),
            "per_run_img_s": [round(r["img_s"], 1) for r in results],
            "peak_mem_mib": [r["peak_mem_mib"] for r in results]}


def concurrency(profile: dict) -> dict:
    """Aggregate images/s for each k in ``profile["concurrency"]``, and the speed-up over one run."""
    levels = [one_level(profile, k) for k in profile["concurrency"]]
    one = next((lv["aggregate_img_s"] for lv in levels if lv["runs"] == 1 and "aggregate_img_s" in lv), None)
    for lv in levels:
        if one and "aggregate_img_s" in lv:
            lv["speedup"] = round(lv["aggregate_img_s"] / one, 2)
    if not any("aggregate_img_s" in lv for lv in levels):
        raise RuntimeError(f"no level could be measured: {[lv.get('error') for lv in levels]}")
    return {"model": "jumpnet", "batch_size": profile["batch_size"], "window_s": profile["concurrency_window_s"],
            "compile": None, "levels": levels}
