"""What a run needs to be reproduced: the code (git sha, dirty flag), the software stack, the machine.

``metrics.json`` holds every key of :func:`provenance`; :func:`set_determinism` applies
``trainer.deterministic``.
"""
from __future__ import annotations

import os
import platform
import socket
import subprocess

import torch

from jumpnet.paths import PROJECT_ROOT


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_sha() -> str | None:
    """The commit of the code that ran (null outside a git checkout)."""
    return (_git("rev-parse", "HEAD") or "").strip() or None


def git_dirty() -> bool | None:
    """True when tracked files differ from that commit or untracked, unignored files exist (null: unknown)."""
    status = _git("status", "--porcelain")
    return None if status is None else bool(status.strip())


def provenance(device: torch.device | None = None) -> dict:
    """The reproducibility record: git, Python/torch/torchvision/CUDA/cuDNN versions, GPU (once known) and host."""
    import torchvision  # noqa: PLC0415 - slow to import (over 1 s): plan and status, which read records, skip it

    cuda = device is not None and device.type == "cuda"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"git_sha": git_sha(), "git_dirty": git_dirty(), "python_version": platform.python_version(),
            "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
            "cuda_version": torch.version.cuda, "cudnn_version": cudnn,  # of the installed build, GPU or not
            "gpu": torch.cuda.get_device_name(device) if cuda else None, "host": socket.gethostname()}


def set_determinism(deterministic: bool, fast: bool) -> None:
    """``trainer.deterministic``: torch's deterministic algorithms on and cuDNN autotuning off; else autotune
    convolutions for the fast path's fixed shapes. Set for every run, so one run of a multirun never leaks into the
    next.

    Ops with no deterministic kernel warn (``warn_only``) rather than stop a long run; the warning names them.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (read at first use)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = fast and not deterministic
