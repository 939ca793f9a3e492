"""Matched arms: solve a variant's width so its budget equals the same model's ``full`` arm.

``ablation.match=params|macs`` asks for the ``model.width_mult`` at which the
variant's trainable parameters (or multiply-adds per image) come within
``TOLERANCE`` of the ``full`` arm's at the configured ``model.width_mult``.
Budgets are step functions of the width (widths are integers) that never
decrease as it grows, so the solve guesses from budget ~ width squared, widens
a bracket around the target geometrically, then bisects (in log width) down to
the two neighbouring steps and keeps the nearer. Each probe is counted through
``cost.COSTS`` (parameters, and one image counted with ``torch.utils.flop_counter``'s
formulas; each distinct network built once per process, and kept between processes), so a full-size model solves in
seconds, before any data is read. Where no width lands within the tolerance,
the nearest is used and the gap recorded (``match_gap``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from jumpnet.models.cost import count_params, forward_flops

TOLERANCE = 0.02          # |ratio - 1| a matched arm must reach
FULL = {"links": True, "merge": None, "head": None, "residual": True}  # the reference arm: ablation=full
RANGE = 64.0              # search widths within 64x of the configured one
MAX_PROBES = 8            # bracket probes (geometric steps of 1.1, 2.2, 4.8, ... reach RANGE)
PRECISION = 1e-4          # bisect until the bracket's ends are this close (relative)


@dataclass(frozen=True)
class WidthSolve:
    """The width a model is built at and, for a matched arm, how it was solved: what was matched, to what,
    how closely. (The choice itself, ``ablation.match``, is the schema's ``Match`` enum, checked when composed.)"""

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
        return {"match": self.match, "match_target": self.target,
                "match_width_mult": self.width_mult if self.match else None,
                "match_ratio": None if self.ratio is None else round(self.ratio, 6), "match_gap": self.gap}


def budget(build: Callable[[], torch.nn.Module], what: str, image_size: int, in_chans: int = 3) -> int:
    """Parameters (``what="params"``), or multiply-adds for one image (``forward_flops`` / 2), of a model built on
    ``meta``."""
    if what == "params":
        with torch.device("meta"):
            return count_params(build())
    return forward_flops(build, image_size, in_chans) // 2


def solve_width(cost: Callable[[float], int], target: int, start: float) -> tuple[float, int]:
    """The width whose cost is nearest ``target`` (``cost`` never decreases with the width), and that cost.

    The first probe assumes the budget grows as the width squared (convolutions are width x width); then the
    bracket widens geometrically until the target lies inside it, and bisection closes it.
    """
    seen = {start: cost(start)}
    if seen[start] == target:
        return start, target
    probe, step = start * math.sqrt(target / max(seen[start], 1)), 1.1
    for _ in range(MAX_PROBES):
        probe = min(max(probe, start / RANGE), start * RANGE)
        seen.setdefault(probe, cost(probe))
        below = [w for w, v in seen.items() if v < target]
        above = [w for w, v in seen.items() if v >= target]
        if below and above:
            break
        probe, step = (max(below) * step if below else min(above) / step), step * 2
    else:  # out of reach within RANGE: the nearest width tried
        return min(seen.items(), key=lambda item: abs(item[1] - target))
    lo, hi = max(below), min(above)
    lo_value, hi_value = seen[lo], seen[hi]
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


def match_width(match: str | None, cost_at: Callable[[float, dict], int], widths: Callable[[float], dict],
                width_mult: float, ablation: dict) -> WidthSolve:
    """Solve ``ablation``'s width so its ``match`` budget (``params`` or ``macs``) equals ``full``'s at ``width_mult``.

    ``cost_at(width, switches)`` is that budget for the model at ``width`` with ``switches`` (``ModelSpec.costs``:
    each distinct network built and counted once per process, so a probe whose integer widths were already counted
    is never built again); ``widths(width)`` gives the integer widths a width builds (for the tidy width recorded).
    ``match`` was checked when the config was composed (the schema).
    """
    if match is None:
        return WidthSolve(width_mult=width_mult)
    target = cost_at(width_mult, FULL)
    solved, value = solve_width(lambda width: cost_at(width, ablation), target, width_mult)
    return WidthSolve(match, target, tidy(solved, widths), value, value / target)
