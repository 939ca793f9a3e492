"""Which memory format a run trains in: ``trainer.channels_last`` = ``auto`` | ``true`` | ``false``.

``auto`` means channels_last where it is fast and safe: on CUDA, where it
speeds up convolutions under mixed precision, and on CPUs whose oneDNN runs its
AVX-512 kernels (1.4x JumpNet's training speed on the 2-core AVX-512 machine
this project is built on); contiguous NCHW on every other CPU. On CPUs whose
oneDNN runs its AVX2 kernels (no AVX-512, or ``ONEDNN_MAX_CPU_ISA`` capping
it), the backward pass of a 1x1 convolution with stride > 1 and fewer than 8
input channels in channels_last corrupts the heap with one thread and hangs in
OpenMP with two (torch 2.14.1, oneDNN 3.12; ``tools/onednn_avx2_repro.py``
reproduces it and tabulates which shapes and settings fail; the AVX-512
kernels pass every probe). Contiguous tensors take other kernels and are safe.
An explicit ``true`` on such a CPU is honoured, with a warning when the model
has such a convolution.
"""
from __future__ import annotations

import logging
import os

import torch
from torch import nn

from jumpnet.config.choices import CHANNELS_LAST, spelled

log = logging.getLogger(__name__)

REPRO = "tools/onednn_avx2_repro.py"
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")  # oneDNN's own cap on its kernels (DNNL_: older name)
AVX512_ISAS = ("AVX512", "AVX10", "ALL")                # cap values that still allow the AVX-512 kernels


def parse_setting(value: object) -> str:
    """``auto``/``true``/``false`` from a config value (YAML gives bools for true/false)."""
    text = str(value).lower()
    if text not in spelled(CHANNELS_LAST):
        raise ValueError(f"trainer.channels_last={value!r} is unknown; choose auto (channels_last on CUDA and "
                         f"AVX-512 CPUs, contiguous on other CPUs), true or false")
    return text


def onednn_runs_avx512() -> bool:
    """Whether oneDNN's AVX-512 kernels run here: the CPU has them (torch's capability) and no ISA cap hides them."""
    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return False  # AVX2 or older (or ATEN_CPU_CAPABILITY lowered it: stay on the safe side)
    caps = [os.environ[name].strip().upper() for name in ISA_CAPS if os.environ.get(name, "").strip()]
    return all(cap.startswith(AVX512_ISAS) for cap in caps)


def use_channels_last(setting: object, device: torch.device) -> bool:
    """Resolve the setting for the device a run trains on (see the module docstring for ``auto``)."""
    text = parse_setting(setting)
    if text == "auto":
        return torch.device(device).type == "cuda" or onednn_runs_avx512()
    return text == "true"


def hazardous_convs(model: nn.Module) -> list[str]:
    """Convolutions that crash or hang in channels_last on oneDNN's AVX2 CPU kernels: 1x1, stride > 1, 2-7 inputs."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1
            and 2 <= m.in_channels // m.groups < 8]


def memory_format_for(model: nn.Module, setting: object, device: torch.device) -> torch.memory_format:
    """The format to train ``model`` in on ``device``, warning when an explicit choice is known to be unsafe."""
    channels_last = use_channels_last(setting, device)
    if channels_last and torch.device(device).type == "cpu" and not onednn_runs_avx512():
        risky = hazardous_convs(model)
        if risky:
            log.warning(f"trainer.channels_last=true on the CPU with {len(risky)} 1x1 strided convolution(s) of "
                        f"fewer than 8 input channels ({', '.join(risky[:3])}{', ...' if len(risky) > 3 else ''}): "
                        f"this CPU's oneDNN runs AVX2 kernels, which crash or hang on these ({REPRO}). "
                        f"Use trainer.channels_last=auto if this run stalls or dies.")
    return torch.channels_last if channels_last else torch.contiguous_format
