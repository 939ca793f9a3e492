"""Matched arms: solve a variant's width so its budget equals the same model's ``full`` arm.

``ablation.match=params|macs`` asks for the ``model.width_mult`` at which the
variant's trainable parameters (or multiply-adds per image) come within
``TOLERANCE`` of the ``full`` arm's at the configured ``model.width_mult``.
Budgets are step functions of the width (widths are integers) that never
decrease as it grows, so the solve brackets the target by doubling or halving
the width, then bisects (in log width) down to the two neighbouring steps and
keeps the nearer. It builds models on PyTorch's ``meta`` device (shapes only: no
memory, no initialization), counts parameters and runs one image through
``FlopCounterMode``, so a full-size model solves in seconds, before any data is
read. Where no width lands within the tolerance, the nearest is used and the
gap recorded (``match_gap``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from jumpnet.measure import count_params

MATCHES = ("params", "macs")
TOLERANCE = 0.02          # |ratio - 1| a matched arm must reach
FULL = {"links": True, "merge": None, "head": None, "residual": True}  # the reference arm: ablation=full
MAX_STEPS = 6             # bracket at most 2**6 = 64x away from the configured width
PRECISION = 1e-4          # bisect until the bracket's ends are this close (relative)


@dataclass(frozen=True)
class Match:
    """The outcome of a solve: what was matched, to what, at which width, how closely."""

    match: str | None = None
    target: int | None = None       # the full arm's params (or MACs) at the configured width_mult
    width_mult: float | None = None  # the width the variant is built at
    value: int | None = None        # the variant's params (or MACs) at that width
    ratio: float | None = None      # value / target

    @property
    def gap(self) -> float | None:
        """``ratio - 1`` where no width came within the tolerance, else None."""
        if self.ratio is None or abs(self.ratio - 1) <= TOLERANCE:
            return None
        return round(self.ratio - 1, 6)

    def record(self) -> dict:
        """The ``metrics.json`` keys of a run (all null for an unmatched arm)."""
        return {"match": self.match, "match_target": self.target, "match_width_mult": self.width_mult,
                "match_ratio": None if self.ratio is None else round(self.ratio, 6), "match_gap": self.gap}


def budget(build: Callable[[], torch.nn.Module], what: str, image_size: int, in_chans: int = 3) -> int:
    """Parameters, or multiply-adds for one image (``FlopCounterMode`` / 2), of a model built on ``meta``."""
    with torch.device("meta"):
        model = build()
        if what == "params":
            return count_params(model)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model.eval()(torch.zeros(1, in_chans, image_size, image_size))
    return int(counter.get_total_flops()) // 2


def solve_width(cost: Callable[[float], int], target: int, start: float) -> tuple[float, int]:
    """The width whose cost is nearest ``target`` (``cost`` never decreases with the width), and that cost."""
    value = cost(start)
    if value == target:
        return start, value
    grow = value < target
    near, near_value = start, value  # the side of the target that ``start`` is on
    for _ in range(MAX_STEPS):
        far = near * 2 if grow else near / 2
        far_value = cost(far)
        if (far_value >= target) == grow:
            break
        near, near_value = far, far_value
    else:
        return near, near_value  # even 64x away the target is out of reach: the nearest we have
    (lo, lo_value), (hi, hi_value) = sorted([(near, near_value), (far, far_value)])
    while hi / lo > 1 + PRECISION:  # invariant: cost(lo) < target <= cost(hi)
        mid = math.sqrt(lo * hi)
        mid_value = cost(mid)
        if mid_value < target:
            lo, lo_value = mid, mid_value
        else:
            hi, hi_value = mid, mid_value
    return (lo, lo_value) if target - lo_value < hi_value - target else (hi, hi_value)


def tidy(width_mult: float, widths: Callable[[float], dict]) -> float:
    """The shortest decimal that builds the same widths, so records and folders read well."""
    for digits in range(1, 8):
        short = round(width_mult, digits)
        if short > 0 and widths(short) == widths(width_mult):
            return short
    return width_mult


def match_width(match: str | None, build_at: Callable[[float, dict], torch.nn.Module],
                widths: Callable[[float], dict], width_mult: float, ablation: dict, image_size: int) -> Match:
    """Solve ``ablation``'s width so its ``match`` budget equals ``full``'s at ``width_mult``.

    ``build_at(width, ablation)`` builds the model; ``widths(width)`` gives the integer widths a width builds, so
    a width already counted is never built again.
    """
    if match is None:
        return Match(width_mult=width_mult)
    if match not in MATCHES:
        raise ValueError(f"ablation.match={match!r} is unknown; choose null, params or macs")
    target = budget(lambda: build_at(width_mult, FULL), match, image_size)
    seen: dict[str, int] = {}

    def cost(width: float) -> int:
        key = json.dumps(widths(width), sort_keys=True)
        if key not in seen:
            seen[key] = budget(lambda: build_at(width, ablation), match, image_size)
        return seen[key]

    solved, value = solve_width(cost, target, width_mult)
    return Match(match, target, tidy(solved, widths), value, value / target)
