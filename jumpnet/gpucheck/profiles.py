"""What ``gpucheck`` measures in each mode: the full check on a GPU, or ``--tiny`` on a CPU.

A profile is plain data (a dict) so that it crosses into the sections' child
processes as is and is recorded in ``gpucheck.json``. Time caps are seconds.
``bench_settings`` turns it into what the bench's timing reads.
"""
from __future__ import annotations

import os

from jumpnet.bench.settings import BenchSettings
from jumpnet.config.choices import STUDY_MODELS

# Test-sized versions of each family (the same as tests/conf/model/tiny_*.yaml): the real code, seconds on a CPU.
TINY_MODELS = {
    "jumpnet": ["model.stem=[4,8]", "model.groups=[[8,1],[16,1]]"],
    "resnet_v2": ["model.depth=8", "model.bottleneck=false", "model.widths=[4,8,16]", "model.stem=4"],
    "densenet": ["model.depth=13", "model.growth_rate=4", "model.bottleneck=false", "model.compression=1.0",
                 "model.stem=8"],
    "sparsenet": ["model.depth=13", "model.growth_rate=4", "model.bottleneck=false", "model.compression=1.0",
                  "model.stem=8"],
    "plain_cnn": ["model.stages=[[4],[8]]", "model.fc_hidden=16"],
}

# Section order = priority: what matters most runs first; max-autotune (minutes of compiling) last,
# with whatever budget is left. min_s: not started with less left than this.
SECTIONS = ("env", "models", "compile:off", "compile:default", "compile:reduce-overhead", "concurrency", "train",
            "plan", "compile:max-autotune")


def full_profile(budget_s: float = 450) -> dict:
    """One H100/H200 in at most 8 minutes (the lease is 15, machine start and transfers included)."""
    return {
        "tiny": False, "device": "cuda", "threads": None, "budget_s": budget_s,
        "models": list(STUDY_MODELS), "model_overrides": {}, "batch_size": 128,
        "steps": 40, "repeats": 3, "warmup": 1, "workers": min(8, len(os.sched_getaffinity(0))),
        "compile_backend": "inductor", "compile_steps": 50, "compile_repeats": 3,
        "concurrency": [1, 2, 4, 8], "concurrency_window_s": 6.0, "concurrency_warmup_steps": 30,
        "train_target_s": 100, "train_max_epochs": 40, "train_data": ["data=cifar10"],
        "plan_experiments": [["experiment=ablation"], ["experiment=ablation_quick"]],
        "caps": {"env": 60, "models": 150, "compile:off": 60, "compile:default": 150,
                 "compile:reduce-overhead": 150, "concurrency": 150, "train": 210, "plan": 90,
                 "compile:max-autotune": 600},
        "min_s": {"env": 10, "models": 30, "compile:off": 15, "compile:default": 30, "compile:reduce-overhead": 30,
                  "concurrency": 40, "train": 60, "plan": 20, "compile:max-autotune": 45},
    }


def tiny_profile(budget_s: float = 60) -> dict:
    """The same sections on a CPU with tiny models and tiny data, one thread each: the suite runs it."""
    return {
        "tiny": True, "device": "cpu", "threads": 1, "budget_s": budget_s,
        "models": list(STUDY_MODELS), "model_overrides": TINY_MODELS, "batch_size": 32,
        "steps": 2, "repeats": 1, "warmup": 1, "workers": 1,
        # Inductor's C++ kernels take ~40 s to compile cold on 2 cores: aot_eager checks graph capture only.
        "compile_backend": "aot_eager", "compile_steps": 2, "compile_repeats": 1,
        "concurrency": [1, 2], "concurrency_window_s": 0.5, "concurrency_warmup_steps": 1,
        "train_target_s": 5, "train_max_epochs": 1,
        "train_data": ["data=synthetic", "data.train_size=256", "data.test_size=128", "data.val_size=64"],
        "plan_experiments": [["model=jumpnet", "ablation=full,no_links,concat"]],
        "caps": {"env": 20, "models": 40, "compile:off": 20, "compile:default": 30, "compile:reduce-overhead": 30,
                 "concurrency": 30, "train": 30, "plan": 30, "compile:max-autotune": 30},
        "min_s": dict.fromkeys(SECTIONS, 1),
    }


def bench_settings(profile: dict) -> BenchSettings:
    """The bench's settings for this profile: its device, counts and compile backend; eager, no extra overrides."""
    return BenchSettings(device=profile["device"], steps=profile["steps"], repeats=profile["repeats"],
                         warmup=profile["warmup"], batch_size=profile["batch_size"], workers=profile["workers"],
                         threads=profile["threads"], compile_backend=profile["compile_backend"],
                         models=tuple(profile["models"]))
