"""Tidy data to take elsewhere (pandas, seaborn, R): ``runs.csv``, ``arms.csv``, ``history.csv``, and what each
column means (the report's README prints :data:`COLUMNS`).

``runs.csv`` is one row per run folder with every scalar of its record and every key of its config (dotted:
``trainer.epochs``); ``arms.csv`` one row per arm (model x width x setting x variant: the unit the tables compare)
with its seeds' mean, spread, interval and the comparison with its ``full`` arm; ``history.csv`` one row per run
and epoch (long form).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from jumpnet.report.collect import Runs
from jumpnet.report.stats import combined_interval

ARM_COLUMNS = {
    "model": "the model's config name (conf/model/<model>.yaml)",
    "model_name": "its display name (model.display.name in that YAML)",
    "width": "model.width_mult (the budget)",
    "setting": "config fields in which runs of one model and variant differ (empty: none); never averaged together",
    "setting_key": "the short key figures use for the setting (S1, S2, ...)",
    "ablation": "the variant (the ablation label)",
    "n": "seeds in the mean (repeated runs of a seed averaged into one)",
    "n_runs": "completed runs behind those seeds",
    "n_diverged": "runs that diverged (n_failed, n_unfinished likewise): not in the mean",
    "seeds": "the seeds in the mean",
    "acc_mean": "test accuracy (%), mean over seeds",
    "acc_std": "its standard deviation over seeds (ddof 1; empty with one seed)",
    "acc_low": "95% t interval of the mean, low end (%), clipped to [0, 100]",
    "acc_high": "... high end",
    "seed_acc": "each seed's test accuracy (%), JSON {seed: value}",
    "delta": "acc_mean minus the full arm's of the same model, width and setting (percentage points)",
    "ci_low": "95% Welch interval of delta over seeds, low end (pp)",
    "ci_high": "... high end",
    "boot_low": "95% bootstrap interval of delta over seeds and test images, low end (pp)",
    "boot_high": "... high end",
    "p": "two-sided p of delta: Welch's t-test over seeds, or McNemar's where an arm has one seed (column test)",
    "p_holm": "p, Holm-adjusted over its family (column family: primary, exploratory, all)",
    "p_paired": "paired t-test on correct-image counts over shared seeds (pairs: how many)",
    "p_paired_holm": "p_paired, Holm-adjusted likewise",
    "seed_delta": "the variant minus full, seed by seed (shared seeds), JSON {seed: pp}",
    "div_rate": "diverged runs of those that ended; div_low, div_high: its 95% Clopper-Pearson interval",
    "params": "trainable parameters (median over the arm's runs); macs, flops, size_mb likewise",
    "d_params": "params minus the full arm's; d_macs likewise",
    "train_time_s": "training wall time, mean per completed run (s)",
}
RUN_COLUMNS = {
    "run_dir": "the run's folder",
    "model, ablation, seed, status": "what the run is and how it ended (completed, failed, diverged, unfinished, "
                                     "unreadable)",
    "test_acc, test_loss, best_val_acc, ...": "every scalar of its metrics.json (SPEC.md lists them)",
    "width, setting, setting_key, model_name": "as in arms.csv",
    "data_key, data_label": "what the run was measured on (data_id and test subset)",
    "<group>.<key>": "every key of the run's .hydra/config.yaml, dotted (trainer.epochs, data.val_size, ...)",
    "estimate_s": "make plan's estimate of the run's wall time (s), kept by the sweeper before it ran (estimates.json)",
    "ratio": "the run's wall time (wall_time_total_s: every attempt's; else wall_time_s) / estimate_s",
    "reach_epoch, reach_s": "first epoch whose val_acc reached the Time table's reference (82%), and the training "
                            "time to its end (s, validation excluded); empty: not reached",
}
HISTORY_COLUMNS = {
    "run_dir, model, model_name, ablation, seed, width, setting, setting_key, status": "the run, as in runs.csv",
    "epoch": "1-based epoch",
    "train_loss, train_acc": "training loss and accuracy (fraction) of that epoch",
    "val_loss, val_acc": "on the validation split (empty with data.val_size=0)",
    "lr": "learning rate at the epoch's end",
    "time_s": "the epoch's training wall time (s; its validation pass excluded)",
}
COLUMNS = {"runs.csv": RUN_COLUMNS, "arms.csv": ARM_COLUMNS, "history.csv": HISTORY_COLUMNS}


def run_table(runs: Runs) -> pd.DataFrame:
    """One row per run: its record's scalars, then every config key it was made with."""
    table = runs.runs.copy()
    if not runs.configs.empty:
        extra = [c for c in runs.configs.columns if c not in table.columns]
        table = table.merge(runs.configs[["run_dir", *extra]], on="run_dir", how="left")
    return table


def arm_table(arms: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: the columns of :data:`ARM_COLUMNS` first, every other statistic after them."""
    table = arms.copy()
    bounds = [combined_interval([1.0], [m], [s], [n])[1:3] if n else (np.nan, np.nan)
              for m, s, n in zip(table["acc_mean"], table["acc_std"].fillna(np.nan), table["n"])]
    table["acc_low"] = np.clip([b[0] for b in bounds], 0, 100)
    table["acc_high"] = np.clip([b[1] for b in bounds], 0, 100)
    for column in ("seed_acc", "seed_delta"):
        if column in table:
            table[column] = [json.dumps({str(k): round(float(v), 6) for k, v in (d or {}).items()})
                             for d in table[column]]
    first = [c for c in ARM_COLUMNS if c in table]
    return table[[*first, *[c for c in table.columns if c not in first]]]


def write_exports(out: Path, runs: Runs, arms: pd.DataFrame, timing: pd.DataFrame | None = None) -> list[str]:
    """Write the three CSVs into ``out`` (``timing``: the Time table's per-run columns, joined to runs.csv); return
    their names."""
    table = run_table(runs)
    if timing is not None:
        table = table.merge(timing.drop(columns=["wall_s"]), on="run_dir", how="left")
    table.to_csv(out / "runs.csv", index=False)
    arm_table(arms).to_csv(out / "arms.csv", index=False)
    runs.history.to_csv(out / "history.csv", index=False)
    return list(COLUMNS)


def columns_section() -> list[str]:
    """The README's section saying what every column of the CSVs means."""
    lines = ["## Data files", "",
             "Tidy CSVs for pandas, seaborn or R: [runs.csv](runs.csv) (one row per run), [arms.csv](arms.csv) (one "
             "row per arm: model x width x setting x variant) and [history.csv](history.csv) (one row per run and "
             "epoch, long form). Accuracies in the CSVs of runs and history are fractions, in arms.csv percent.", ""]
    for name, columns in COLUMNS.items():
        lines += [f"### {name}", "", "| column | meaning |", "|---|---|",
                  *(f"| `{c}` | {m} |" for c, m in columns.items()), ""]
    return lines
