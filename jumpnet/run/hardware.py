"""Names for the device a measurement was taken on, so that plans match figures to the same hardware.

A GPU is named as CUDA names it (``NVIDIA H200``). A CPU's speed depends on the
cores a run gets, so its name carries the thread count:
``cpu (AMD EPYC, 2 threads)``. ``make bench`` and ``make gpu-check`` record this
name; ``make plan`` estimates times only from figures with the same name.
"""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_label(threads: int | None = None) -> str:
    threads = threads or len(os.sched_getaffinity(0))
    return f"cpu ({cpu_model()}, {threads} thread{'s' if threads != 1 else ''})"


def device_label(device: torch.device | str, threads: int | None = None) -> str:
    """``torch.cuda.get_device_name`` for a GPU, ``cpu_label(threads)`` for the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_label(threads)


def slug(label: str) -> str:
    """A folder name for a device label: ``NVIDIA H200`` -> ``nvidia-h200``."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "device"
