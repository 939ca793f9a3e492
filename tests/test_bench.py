"""``python -m jumpnet.bench`` end to end in a subprocess, on a tiny JumpNet: table, JSON, shared timer; its
settings as one typed value; its trainers at a constant learning rate."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from jumpnet.bench.__main__ import parse_args
from jumpnet.bench.settings import BenchSettings
from jumpnet.bench.timing import bench_images, make_trainer
from jumpnet.config.choices import STUDY_MODELS
from jumpnet.config.compose import compose_config
from jumpnet.data.fast_loader import BatchLoader
from jumpnet.models.factory import build_model
from jumpnet.train.optim import build_optimizer, build_scheduler
from jumpnet.train.throughput import ImageTimer
from tests.conftest import TINY_JUMPNET, run_module

ROW_KEYS = {"model", "params", "flops", "macs", "fast_img_s", "plain_img_s", "ratio", "fast_tflops", "plain_tflops",
            "fast_runs", "plain_runs", "warmup_s", "precision", "fp32_img_s", "bf16_img_s", "bf16_x", "fp32_runs",
            "bf16_runs"}


def test_bench_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "bench" / "bench.json"
    proc = run_module("jumpnet.bench", ["--models", "jumpnet", "--steps", "2", "--repeats", "1", "--batch-size", "32",
                                        "--device", "cpu", "--threads", "1", "--out", str(out),
                                        "--override", *TINY_JUMPNET], timeout=120, JUMPNET_DATA_ARCHIVE="")
    assert proc.returncode == 0, proc.stderr[-3000:]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| model"))
    for column in ("fp32 img/s", "bf16 img/s", "bf16/fp32", "auto picks", "fast img/s", "plain img/s", "fast/plain",
                   "fast TFLOP/s", "peak RSS MiB"):
        assert column in header
    assert any(line.startswith("| jumpnet") for line in proc.stdout.splitlines())
    record = json.loads(out.read_text())
    assert record["device_type"] == "cpu" and record["batch_size"] == 32 and record["steps"] == 2
    assert record["repeats"] == 1 and record["compile"] is False and record["failed"] == []
    assert "synthetic" in record["data"] and record["overrides"] == TINY_JUMPNET
    (row,) = record["models"]
    assert ROW_KEYS <= set(row) and row["model"] == "jumpnet" and row["params"] == 5150
    assert row["fast_img_s"] > 0 and row["plain_img_s"] > 0 and len(row["fast_runs"]) == 1
    assert abs(row["ratio"] - row["fast_img_s"] / row["plain_img_s"]) < 0.01
    assert row["fast_img_s"] == row[f"{row['precision']}_img_s"]  # the fast path is what trainer.precision=auto picks
    assert abs(row["bf16_x"] - row["bf16_img_s"] / row["fp32_img_s"]) < 0.01 and len(row["bf16_runs"]) == 1
    assert row["fast_tflops"] > 0 and row["plain_peak_rss_mib"] > 0
    assert out.with_suffix(".md").read_text().startswith("| model")


def test_bench_reports_a_broken_model_and_exits_nonzero(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_module("jumpnet.bench", ["--models", "jumpnet", "--steps", "1", "--repeats", "1", "--batch-size", "8",
                                        "--device", "cpu", "--out", str(out), "--override", "model.groups=[]"],
                      timeout=120, JUMPNET_DATA_ARCHIVE="")
    assert proc.returncode == 1 and "FAILED" in proc.stderr
    assert json.loads(out.read_text())["failed"][0]["model"] == "jumpnet"


def test_image_timer_counts_images_over_timed_stretches():
    timer = ImageTimer(torch.device("cpu")).start()
    timer.count(64)
    first = timer.stop()
    timer.start()
    timer.count(32)
    assert timer.stop() >= first > 0 and timer.images == 96
    assert timer.images_per_s == 96 / timer.seconds


def test_the_command_line_builds_frozen_settings_with_the_device_defaults(tmp_path):
    cpu = parse_args(["--device", "cpu", "--compile", "--override", *TINY_JUMPNET, "--out", str(tmp_path / "b.json")])
    assert isinstance(cpu, BenchSettings) and cpu.device == "cpu" and (cpu.steps, cpu.repeats) == (2, 3)
    assert cpu.compile == ("default",) and cpu.overrides == tuple(TINY_JUMPNET) and cpu.out == tmp_path / "b.json"
    assert cpu.models == tuple(STUDY_MODELS) and cpu.warmup == 1 and cpu.batch_size == 128
    assert cpu.compile_backend == "inductor" and cpu.channels_last == "auto" and cpu.workers is None
    cuda = parse_args(["--device", "cuda", "--steps", "7", "--compile", "max-autotune", "reduce-overhead"])
    assert (cuda.steps, cuda.repeats) == (7, 5) and cuda.compile == ("max-autotune", "reduce-overhead")
    assert parse_args(["--device", "cpu"]).compile == ()  # no --compile: eager paths only
    with pytest.raises(dataclasses.FrozenInstanceError):
        cpu.steps = 3


@pytest.mark.parametrize("schedule", ["cosine", "step", "onecycle"])
def test_a_constant_lr_scheduler_ignores_the_schedule_and_its_warmup(schedule):
    cfg = compose_config([f"trainer.schedule={schedule}", "trainer.epochs=2", "trainer.warmup_epochs=1",
                          "trainer.lr=0.3", "trainer.milestones=[0.1,0.2]"])
    opt = build_optimizer(cfg.optimizer, nn.Linear(2, 2))
    sched = build_scheduler(opt, cfg.trainer, steps_per_epoch=5, constant_lr=True)
    lrs = []
    for _ in range(20):  # twice trainer.epochs: a constant lr has no end
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [0.3] * 20
    scheduled = build_scheduler(build_optimizer(cfg.optimizer, nn.Linear(2, 2)), cfg.trainer, steps_per_epoch=5)
    assert scheduled.get_last_lr()[0] != 0.3  # the same config without constant_lr warms up (onecycle: from lr/25)


def test_the_bench_trains_at_a_constant_lr_whatever_the_trainer_config_says(tmp_path):
    cfg = compose_config(["model=jumpnet", "logger=none", *TINY_JUMPNET, "trainer.schedule=onecycle",
                          "trainer.epochs=1", "trainer.lr=0.05"])
    x, y, _ = bench_images(16, None)
    loader = BatchLoader(x, y, 4, torch.device("cpu"), [0.5] * 3, [0.25] * 3, train=True)
    trainer = make_trainer(cfg, build_model(cfg), loader, Path(tmp_path) / "t.pt", fast=False)
    lrs = []
    for _ in range(3):  # 12 steps: three times trainer.epochs=1 of this loader
        for xb, yb in loader:
            trainer.train_step(xb, yb)
            lrs.append(trainer.optimizer.param_groups[0]["lr"])
    assert lrs == [0.05] * 12 and trainer.optimizer.param_groups[0]["momentum"] == 0.9
