"""Time to accuracy: how long each arm's runs took, the plan's estimate beside it, and when a reference
accuracy was first reached.

One row per arm (model x width x setting x variant) of completed runs: the wall time per run (mean, and the range
over its runs), ``make plan``'s estimate of a run before it was launched (the sweeper keeps it in the sweep
folder's ``estimates.json``: ``jumpnet.sweep.eta``) and the ratio of the two, and the first epoch at which the
validation accuracy reached ``reference`` (default: the 82% test accuracy of the Keras JumpNet notebook, the bar
the seeds set), with the training time to that epoch. Validation, not test: the test split is measured once, with the
selected weights, so it has no history. Wall times include whatever else the machine ran meanwhile.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from jumpnet.paths import ESTIMATES_FILE
from jumpnet.report.comparisons import ARM
from jumpnet.report.tables import DASH, Table, group_columns, model_names, num

REFERENCE_ACC = 0.82  # the Keras JumpNet notebook's CIFAR-10 test accuracy (no augmentation)


def read_estimates(dirs: list[Path]) -> dict[str, float]:
    """Each run folder's estimate (s) from every ``estimates.json`` under ``dirs``, by resolved folder path; a
    damaged file gives none (the table shows a dash)."""
    out: dict[str, float] = {}
    found = {p for d in dirs for p in [*Path(d).rglob(ESTIMATES_FILE),  # a sweep folder, or folders of sweeps
                                       *(up / ESTIMATES_FILE for up in Path(d).resolve().parents)]  # a run folder
             if p.is_file()}
    for path in sorted(found):
        try:
            runs = json.loads(path.read_text()).get("runs", {})
            out.update({str((path.parent / name).resolve()): float(v["estimate_s"]) for name, v in runs.items()
                        if isinstance(v, dict) and isinstance(v.get("estimate_s"), (int, float))})
        except (OSError, ValueError, AttributeError):
            continue
    return out


def reached(history: pd.DataFrame, reference: float) -> pd.DataFrame:
    """Per run: the first epoch whose validation accuracy is at least ``reference``, and the training time to it."""
    rows = []
    for run_dir, epochs in history.sort_values("epoch").groupby("run_dir", sort=False):
        hit = epochs[epochs["val_acc"].astype(float) >= reference] if "val_acc" in epochs else epochs.iloc[:0]
        first = int(hit["epoch"].iloc[0]) if len(hit) else np.nan
        to = float(epochs.loc[epochs["epoch"] <= first, "time_s"].sum()) if len(hit) else np.nan
        rows.append({"run_dir": run_dir, "reach_epoch": first, "reach_s": to})
    return pd.DataFrame(rows, columns=["run_dir", "reach_epoch", "reach_s"])


def time_table(completed: pd.DataFrame, history: pd.DataFrame, dirs: list[Path],
               reference: float = REFERENCE_ACC) -> tuple[Table, pd.DataFrame]:
    """The table and its per-run frame (run folder, wall time, estimate, ratio, epoch and time to ``reference``)."""
    runs = completed.copy()
    estimates = read_estimates(dirs)
    runs["estimate_s"] = [estimates.get(str(Path(d).resolve()), np.nan) for d in runs["run_dir"]]
    total = runs["wall_time_total_s"] if "wall_time_total_s" in runs else pd.Series(np.nan, index=runs.index)
    single = runs["wall_time_s"] if "wall_time_s" in runs else pd.Series(np.nan, index=runs.index)
    runs["wall_s"] = pd.to_numeric(total.fillna(single), errors="coerce")  # every attempt's, where it was kept
    runs["ratio"] = runs["wall_s"] / runs["estimate_s"]
    hist = history if not history.empty else pd.DataFrame(columns=["run_dir", "epoch", "val_acc", "time_s"])
    runs = runs.merge(reached(hist, reference), on="run_dir", how="left")
    pct = f"{reference * 100:g}%"
    rows = []
    for _, arm in runs.groupby(ARM, observed=True, sort=True):
        first = arm.iloc[0]
        hits = arm["reach_epoch"].dropna()
        rows.append({**{k: first[k] for k in [*ARM, "model_name"] if k in arm},
                     "Runs": str(len(arm)),
                     "Wall time per run (min)": _spread(arm["wall_s"] / 60),
                     "Plan's estimate (min)": num(arm["estimate_s"].mean() / 60, ".1f"),
                     "Actual / estimate": num(arm["ratio"].mean(), ".2f"),
                     f"First epoch val ≥ {pct}": (f"{num(hits.median(), '.3g')} ({len(hits)} of {len(arm)})"
                                                   if len(hits) else f"not reached (0 of {len(arm)})"),
                     f"Time to {pct} (min)": num(arm["reach_s"].median() / 60, ".1f")})
    frame = pd.DataFrame(rows)
    text = pd.DataFrame({"Model": model_names(frame)}) if rows else pd.DataFrame(columns=["Model"])
    if rows:
        text = group_columns(frame, text)
        text["Variant"] = frame["ablation"].astype(str)
        text = pd.concat([text, frame.iloc[:, len(ARM) + 1:]], axis=1)
    caption = ("Time. Wall time of each completed run, every attempt of a resumed run included (mean, and "
               "[min-max] over the arm's runs; it includes whatever else the machine ran meanwhile) beside "
               "`make plan`'s estimate, made before the run from `make bench`'s figures (" + ESTIMATES_FILE +
               " in the sweep folder; a dash: none was kept), and the first epoch at which validation accuracy "
               f"reached {pct} (median over the runs that reached it), with the training time to that epoch's end "
               "(validation passes excluded). Validation, not test: test accuracy is measured once, at the end.")
    table = Table("time", text, pd.DataFrame(False, index=text.index, columns=text.columns), caption)
    keep = ["run_dir", "wall_s", "estimate_s", "ratio", "reach_epoch", "reach_s"]
    return table, runs[keep]


def _spread(minutes: pd.Series) -> str:
    values = minutes.dropna()
    if values.empty:
        return DASH
    if len(values) == 1:
        return num(values.iloc[0], ".1f")
    return f"{num(values.mean(), '.1f')} [{num(values.min(), '.1f')}-{num(values.max(), '.1f')}]"
