"""What one bench measures, as one typed value: the command line builds it, and so does ``gpucheck``'s profile.

Every field a timing reads is here, with its default, so nothing downstream
guesses a missing attribute. The device is resolved (never ``auto``) and the
step and repeat counts filled by ``for_device`` before anything is timed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from jumpnet.config.choices import STUDY_MODELS
from jumpnet.data.plain_loader import default_workers
from jumpnet.paths import REPORTS_DIR
from jumpnet.train.memory_format import use_channels_last

DEFAULT_OUT = REPORTS_DIR / "bench" / "bench.json"
# CPU: a few minutes for all models on 2 cores (DenseNet-BC-100 trains ~19 img/s there).
DEVICE_DEFAULTS = {"cpu": {"steps": 2, "repeats": 3}, "cuda": {"steps": 50, "repeats": 5}}


@dataclass(frozen=True)
class BenchSettings:
    """How each model is timed (``bench_model``) and where the CLI writes the result."""

    device: str = "cpu"                   # cpu | cuda (resolved by ``resolve_device``)
    steps: int = 2                        # training steps per timed epoch
    repeats: int = 3                      # timed epochs per path; the median is reported
    warmup: int = 1                       # untimed epochs per path first (worker start-up, cuDNN, compile)
    batch_size: int = 128
    workers: int | None = None            # the plain loop's DataLoader workers; None: min(2, cores)
    threads: int | None = None            # torch CPU threads; None: all cores available
    compile: tuple[str, ...] = ()         # also time the fast path under each torch.compile mode
    compile_backend: str = "inductor"     # gpucheck --tiny: aot_eager (graph capture only, no C++ compile)
    channels_last: str = "auto"           # the fast path's memory format, as trainer.channels_last
    overrides: tuple[str, ...] = ()       # extra Hydra overrides for every model
    models: tuple[str, ...] = tuple(STUDY_MODELS)
    archive: str | None = None            # CIFAR ImageFolder tar to take images from; None: synthetic
    out: Path = DEFAULT_OUT               # the JSON; the table beside it as .md

    @classmethod
    def for_device(cls, device: str, steps: int | None = None, repeats: int | None = None,
                   **fields) -> BenchSettings:
        """Settings on ``device`` (``auto``: CUDA when there is one), with that device's default counts."""
        device = resolve_device(device)
        defaults = DEVICE_DEFAULTS[device]
        return cls(device=device, steps=defaults["steps"] if steps is None else steps,
                   repeats=defaults["repeats"] if repeats is None else repeats, **fields)

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def plain_workers(self) -> int:
        return default_workers() if self.workers is None else self.workers

    @property
    def fast_channels_last(self) -> bool:
        """The fast path's memory format on this device (``auto``: CUDA and AVX-512 CPUs)."""
        return use_channels_last(self.channels_last, self.torch_device)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
