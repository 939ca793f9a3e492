"""The unit of analysis: one value per arm and seed, with each run's per-image predictions where it kept them.

A seed is the unit every test counts: Welch's test over an arm's seeds, the paired test over the seeds two arms
share, the bootstrap over seeds (and images). Two runs of the same arm and seed (the same config reported from
two sweeps, ``experiments/ablation`` beside ``experiments/budget``) are not two samples: they share the
initialization and the batch order. They are averaged into one unit, never silently cut to one, and the
report lists both folders (:func:`duplicates`).

Each completed run's ``predictions.npz`` (``jumpnet.run.predictions``) is read and checked against its record;
a run without one (recorded before they were kept) still counts in every seed-level statistic and is marked.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from jumpnet.run.predictions import Predictions, PredictionsInvalid, read_predictions

ARM = ["model", "width", "setting", "ablation"]


@dataclass
class PerImage:
    """The completed runs' predictions by run folder, and why a run has none (missing or invalid)."""

    by_run: dict[str, Predictions] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def load_predictions(done: pd.DataFrame) -> PerImage:
    """Every completed run's predictions, checked against its ``test_acc``."""
    found = PerImage()
    for run_dir, acc in zip(done.get("run_dir", pd.Series(dtype=object)), done["test_acc"]):
        try:
            preds = read_predictions(run_dir, acc)
        except PredictionsInvalid as err:
            found.missing[str(run_dir)] = str(err)
            continue
        if preds is None:
            found.missing[str(run_dir)] = "no predictions.npz (recorded before runs kept per-image predictions)"
        else:
            found.by_run[str(run_dir)] = preds
    return found


@dataclass
class Unit:
    """One arm x seed: its accuracy (mean of its runs, in percent), correct images where every run kept
    predictions on the same images, and each image's correctness (the runs' mean)."""

    acc: float
    runs: list[str]
    correct: float | None = None
    images: int | None = None
    per_image: np.ndarray | None = None
    labels: np.ndarray | None = None


def seed_units(runs: pd.DataFrame, per_image: PerImage | None = None, at_chance: bool = False) -> dict[tuple, Unit]:
    """The units of every arm, keyed by ``(*ARM, seed)``: completed runs (and diverged ones, at chance accuracy,
    when ``at_chance``: the sensitivity analysis), repeated runs of a seed averaged."""
    per_image = per_image or PerImage()
    keep = runs["status"].isin(["completed", "diverged"] if at_chance else ["completed"])
    units: dict[tuple, Unit] = {}
    for key, rows in runs[keep].groupby([*ARM, "seed"], observed=True, sort=True):
        acc = np.where(rows["status"] == "completed", rows["test_acc"].astype(float) * 100.0,
                       100.0 / rows.get("num_classes", pd.Series(10, index=rows.index)).astype(float))
        dirs = [str(d) for d in rows.get("run_dir", pd.Series([None] * len(rows), index=rows.index))]
        unit = Unit(float(np.mean(acc)), dirs)
        preds = [per_image.by_run.get(d) for d in dirs]
        if all(p is not None for p in preds) and rows["status"].eq("completed").all():
            labels = preds[0].label
            if all(np.array_equal(p.label, labels) for p in preds):
                unit.per_image = np.mean([p.correct for p in preds], axis=0)
                unit.correct, unit.images, unit.labels = float(unit.per_image.sum()), len(labels), labels
        units[key] = unit
    return units


def arm_units(units: dict[tuple, Unit], arm: tuple) -> dict[int, Unit]:
    """One arm's units by seed."""
    return {int(key[-1]): unit for key, unit in units.items() if key[:-1] == arm}


def accuracies(units: dict[int, Unit]) -> dict[int, float]:
    return {seed: unit.acc for seed, unit in units.items()}


def counts(a: dict[int, Unit], b: dict[int, Unit]) -> tuple[dict[int, float], dict[int, float]] | None:
    """Correct images by seed of both arms, where every shared seed has them on one test split (else None)."""
    shared = sorted(set(a) & set(b))
    both = [a[s] for s in shared] + [b[s] for s in shared]
    if not shared or any(u.correct is None for u in both) or len({u.images for u in both}) != 1:
        return None
    return {s: a[s].correct for s in shared}, {s: b[s].correct for s in shared}


def same_images(*arms: dict[int, Unit]) -> bool:
    """Whether every unit of the arms has per-image results on the same labelled test images."""
    units = [u for arm in arms for u in arm.values()]
    if not units or any(u.per_image is None for u in units):
        return False
    return all(np.array_equal(u.labels, units[0].labels) for u in units)


def duplicates(runs: pd.DataFrame) -> pd.DataFrame:
    """Every arm x seed run more than once (each folder named): those runs are averaged into one unit."""
    done = runs[runs["status"] == "completed"]
    rows = [{**dict(zip([*ARM, "seed"], key)), "runs": len(group), "folders": list(map(str, group["run_dir"]))}
            for key, group in done.groupby([*ARM, "seed"], observed=True, sort=True) if len(group) > 1]
    return pd.DataFrame(rows, columns=[*ARM, "seed", "runs", "folders"])
