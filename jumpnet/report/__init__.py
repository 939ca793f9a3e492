"""Paper tables and figures from finished runs: ``python -m jumpnet.report DIR [DIR ...] --out reports/NAME``.

Reads every ``metrics.json`` (and ``.hydra/config.yaml``, and ``predictions.npz``)
under the folders, writes the tidy ``runs.csv``, ``arms.csv`` and ``history.csv``, the tables (Markdown and LaTeX:
architectures, ablations, accuracy at equal budget where families were
measured at several widths, and time: each run's wall time beside the plan's estimate, and time to a reference
accuracy), four figures (PDF and PNG) and a README that states the setup and also
lists every run left out of the tables, every seed run twice, and every run
without per-image predictions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from jumpnet.report import tables as tbl
from jumpnet.report.ablation_table import ablations
from jumpnet.report.budget import equal_budget
from jumpnet.report.collect import Runs, collect
from jumpnet.report.comparisons import ablation_deltas
from jumpnet.report.exports import run_table, write_exports
from jumpnet.report.families import describe
from jumpnet.report.figures import build_figures, save_figures
from jumpnet.report.readme import write_readme
from jumpnet.report.setup import compact, setup_items
from jumpnet.report.timing import time_table
from jumpnet.report.units import PerImage, load_predictions


@dataclass
class Report:
    """What a report was built from and what it shows, for callers (and tests) to inspect."""

    out: Path
    runs: Runs
    arms: pd.DataFrame  # one row per model x width x setting x variant: comparisons.ablation_deltas
    tables: list[tbl.Table]
    figures: dict[str, Figure]
    per_image: PerImage  # the completed runs' predictions, and why some have none
    setup: dict[str, str]  # the setup block's items (README "Setup"; compact in every LaTeX caption)


def build_report(dirs: list[str | Path], out: str | Path) -> Report:
    """Collect the runs under ``dirs`` and write the whole report into ``out``."""
    runs = collect(dirs)
    if runs.completed.empty:
        found = f"{len(runs.runs)} run folders, none completed" if len(runs.runs) else "no run folders"
        raise SystemExit(f"jumpnet.report: no completed runs under {', '.join(map(str, runs.dirs))} ({found}).")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    per_image = load_predictions(runs.completed)
    arms = ablation_deltas(runs.runs, runs.primary, per_image)
    every = run_table(runs)
    setup = setup_items(every[every["status"] == "completed"])
    data = tbl.describe_data(runs.completed)
    timing, per_run = time_table(runs.completed, runs.history, runs.dirs)
    tables = [tbl.architectures(arms, data), ablations(arms, data, describe(runs.primary)),
              equal_budget(arms, data, runs.budgets, runs.primary), timing]
    tables = [t for t in tables if t is not None]
    for table in tables:
        table.setup = compact(setup)
        table.write(out)
    write_exports(out, runs, arms, per_run)
    figures = build_figures(arms, runs.history)
    save_figures(figures, out)
    write_readme(out, runs, tables, list(figures), data, per_image, setup)
    return Report(out, runs, arms, tables, figures, per_image, setup)


__all__ = ["Report", "build_report"]
