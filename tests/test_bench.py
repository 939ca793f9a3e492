"""``python -m jumpnet.bench`` end to end in a subprocess, on a tiny JumpNet: table, JSON, shared timer."""
from __future__ import annotations

import json

import torch

from jumpnet.train.throughput import ImageTimer
from tests.conftest import TINY_JUMPNET, run_module

ROW_KEYS = {"model", "params", "flops", "macs", "fast_img_s", "plain_img_s", "ratio", "fast_tflops", "plain_tflops",
            "fast_runs", "plain_runs", "warmup_s"}


def test_bench_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "bench" / "bench.json"
    proc = run_module("jumpnet.bench", ["--models", "jumpnet", "--steps", "2", "--repeats", "1", "--batch-size", "32",
                                        "--device", "cpu", "--threads", "1", "--out", str(out),
                                        "--override", *TINY_JUMPNET], timeout=120, JUMPNET_DATA_ARCHIVE="")
    assert proc.returncode == 0, proc.stderr[-3000:]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| model"))
    for column in ("fast img/s", "plain img/s", "fast/plain", "fast TFLOP/s", "peak RSS MiB"):
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
