"""The ETA a sweep prints when it starts: ``make plan``'s estimate (``jumpnet.sweep.plan.price_arm``) of the runs
it is about to launch, summed; nothing is estimated twice or differently from the plan. The sweeper also keeps each
run's estimate in the sweep folder (``estimates.json``: ``keep_estimates``), made before the run, so the report
can set the time it took beside it.

The estimate needs a ``make bench`` (or ``make gpu-check``) figure of this device under ``reports/``; without one
the line says so, and no model is built to count its FLOPs (a fresh clone starts at once).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from jumpnet.atomic import write_text_atomic
from jumpnet.paths import ESTIMATES_FILE, REPORTS_DIR
from jumpnet.sweep.arms import Arm
from jumpnet.sweep.plan import ForwardFlops, arm_device, fmt_time, price_arm
from jumpnet.sweep.speeds import load_figures


def device_figures(arms: Sequence[Arm], reports: Path) -> tuple[str, list]:
    """The device the arms train on here, and the ``make bench`` / ``make gpu-check`` figures of that device."""
    device = arm_device(arms[0].cfg, None)
    return device, [f for f in load_figures(reports) if f.device == device]


def eta_line(arms: Sequence[Arm], reports: Path = REPORTS_DIR) -> str:
    """One line: the estimated time of ``arms`` (the runs to launch) on this device, or why there is none."""
    if not arms:
        return "ETA: nothing to launch"
    device, figures = device_figures(arms, reports)
    if not figures:
        return (f"ETA: no `make bench` figure for {device} in {reports}/ (run `make bench` once to get one; "
                f"README gives measured times)")
    flops = ForwardFlops()
    rows = [price_arm(arm, flops, figures, None) for arm in arms]
    seconds = [r["_left_s"] for r in rows if r["_left_s"] is not None]
    note = "" if len(seconds) == len(rows) else f"; {len(rows) - len(seconds)} runs have no figure and are not counted"
    return (f"ETA: about {fmt_time(sum(seconds))} of training and evaluation for {len(rows)} runs on {device} "
            f"(make plan's estimate from make bench's figures{note}), plus each run's setup and the report")


def keep_estimates(sweep_dir: Path, arms: Sequence[Arm], reports: Path = REPORTS_DIR) -> int:
    """Add the estimate of each of ``arms`` (every run of the sweep, done or not) that has none yet to
    ``sweep_dir/estimates.json``: a run's first estimate stays, the one made before it ran. Returns how many were
    added (0 without a figure for this device: there is nothing to keep)."""
    if not arms:
        return 0
    _, figures = device_figures(arms, reports)
    path = Path(sweep_dir) / ESTIMATES_FILE
    try:
        kept = json.loads(path.read_text()).get("runs", {})
    except (OSError, ValueError, AttributeError):  # none yet, or damaged: estimated again
        kept = {}
    new = [a for a in arms if a.name not in kept]
    if not figures or not new:
        return 0
    flops, now = ForwardFlops(), datetime.now(UTC).isoformat(timespec="seconds")
    for arm in new:
        row = price_arm(arm, flops, figures, None)
        if row["_s"] is not None:
            kept[arm.name] = {"estimate_s": round(row["_s"], 1), "device": row["_device"], "made_at": now}
    path.parent.mkdir(parents=True, exist_ok=True)  # a new sweep's folder: Hydra makes it only when a job starts
    write_text_atomic(path, json.dumps({"runs": kept}, indent=1, sort_keys=True) + "\n")
    return len(new)
