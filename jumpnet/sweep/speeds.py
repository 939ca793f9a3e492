"""Measured training speeds, read back from ``make bench`` and ``make gpu-check`` records, for ``make plan``.

Sources: every ``reports/**/bench.json`` and ``reports/gpu/*/gpucheck.json``.
Records from tiny or overridden models (tests, ``gpucheck --tiny``) are not
figures of the study's models and are skipped. A figure is the training
images/s of one model on one device label (``jumpnet.run.hardware``), on the fast
path or the plain loop, with or without a compile mode.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from jumpnet.models.cost import TRAIN_FLOPS_PER_FORWARD
from jumpnet.paths import REPORTS_DIR


@dataclass(frozen=True)
class Figure:
    device: str
    model: str
    fast: bool
    compile: str | None
    img_s: float
    flops: int            # forward FLOPs per image of the measured model
    measured_at: str
    source: str

    @property
    def tflops(self) -> float:
        """Achieved training TFLOP/s: what an arm of another size is assumed to reach too."""
        return self.img_s * TRAIN_FLOPS_PER_FORWARD * self.flops / 1e12


def _bench_figures(record: dict, source: str) -> list[Figure]:
    if record.get("overrides"):
        return []
    out = []
    for row in record.get("models", []):
        common = dict(device=record.get("device", ""), model=row["model"], flops=int(row["flops"]),
                      measured_at=record.get("measured_at", ""), source=source)
        out.append(Figure(fast=True, compile=None, img_s=row["fast_img_s"], **common))
        out.append(Figure(fast=False, compile=None, img_s=row["plain_img_s"], **common))
        for mode, compiled in (row.get("compiled") or {}).items():  # bench --compile MODE ...
            out.append(Figure(fast=True, compile=mode, img_s=compiled["img_s"], **common))
    return out


def _gpucheck_figures(record: dict, source: str) -> list[Figure]:
    if record.get("tiny"):
        return []
    out = []
    for section in record.get("sections", []):
        result = section.get("result") or {}
        if section.get("status") != "ok":
            continue
        if section["name"] == "models":
            out += _bench_figures({**result, "device": record["device"], "measured_at": record["measured_at"]}, source)
        elif section["name"].startswith("compile:"):
            out.append(Figure(record["device"], result["model"], True, result.get("mode"), result["img_s"],
                              int(result["flops"]), record["measured_at"], source))
    return out


def load_figures(reports: Path = REPORTS_DIR) -> list[Figure]:
    """Every usable figure under ``reports``; unreadable files are skipped (a plan never fails on them)."""
    figures: list[Figure] = []
    reports = Path(reports)
    for path in sorted(reports.glob("**/bench.json")) + sorted(reports.glob("gpu/*/gpucheck.json")):
        try:
            record = json.loads(path.read_text())
            read = _gpucheck_figures if path.name == "gpucheck.json" else _bench_figures
            figures += read(record, str(path))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return figures


def concurrency_levels(device: str, reports: Path = REPORTS_DIR) -> dict[int, float]:
    """Aggregate speed-up of k concurrent JumpNet trainings over one, from the newest gpu-check of ``device``."""
    newest: tuple[str, dict[int, float]] = ("", {})
    for path in Path(reports).glob("gpu/*/gpucheck.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("tiny") or record.get("device") != device:
            continue
        for section in record.get("sections", []):
            if section.get("name") == "concurrency" and section.get("status") == "ok":
                levels = {int(lv["runs"]): float(lv["speedup"]) for lv in section["result"]["levels"]}
                if record.get("measured_at", "") >= newest[0]:
                    newest = (record.get("measured_at", ""), levels)
    return newest[1]


def pick(figures: list[Figure], device: str, model: str, fast: bool, compile_mode: str | None) -> Figure | None:
    """The newest figure of ``model`` on ``device`` and path, preferring the same compile mode."""
    same = [f for f in figures if f.device == device and f.model == model and f.fast == fast]
    if not same:
        return None
    return max(same, key=lambda f: (f.compile == compile_mode, f.measured_at))
