"""Which precision a run trains and evaluates in: ``trainer.precision`` = ``auto`` | ``fp32`` | ``bf16``.

``bf16`` is PyTorch's bf16 autocast (convolutions and matmuls in bf16; BatchNorm, the loss and the weights in
fp32). ``auto`` picks it where it is fast: on CUDA (the fast path; the plain loop, ``trainer.fast=false``,
stays the typical fp32 loop) and on CPUs whose oneDNN has bf16 instructions (AMX-BF16 or AVX-512 BF16), where
``make bench`` measured it 1.4-1.9x faster than fp32 on the 2-core Intel Xeon (AMX) this project is checked
on; fp32 on every other CPU, where bf16 is emulated and slower. The record's ``precision`` says which ran.
"""
from __future__ import annotations

from functools import cache

import torch

from jumpnet.config.choices import PRECISIONS, Precision

BF16_CPU_FEATURES = ("amx_bf16", "avx512_bf16")  # torch.cpu.get_capabilities() keys of native bf16 arithmetic


@cache
def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively (AMX-BF16 or AVX-512 BF16)."""
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # an older torch without the query: stay on fp32
        return False
    return any(bool(caps.get(name)) for name in BF16_CPU_FEATURES)


def resolve_precision(setting: object, device: torch.device, fast: bool = True) -> str:
    """``fp32`` or ``bf16`` for a run on ``device`` (``fast``: ``trainer.fast``); see the module docstring."""
    text = str(setting)
    if text not in PRECISIONS:
        raise ValueError(f"trainer.precision={setting!r} is unknown; choose one of {', '.join(PRECISIONS)}")
    if text != Precision.auto:
        return text
    device = torch.device(device)
    bf16 = fast if device.type == "cuda" else device.type == "cpu" and cpu_has_bf16()
    return str(Precision.bf16 if bf16 else Precision.fp32)
