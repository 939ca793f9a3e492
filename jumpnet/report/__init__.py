"""Paper tables and figures from finished runs: ``python -m jumpnet.report DIR [DIR ...] --out reports/NAME``.

Reads every ``metrics.json`` (and ``.hydra/config.yaml``) under the folders,
writes ``results.csv``, the tables (Markdown and LaTeX: architectures,
ablations, and accuracy at equal budget where families were measured at
several widths), four figures (PDF and PNG) and a README that also lists every
run left out of the tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from jumpnet.report import tables as tbl
from jumpnet.report.budget import equal_budget
from jumpnet.report.collect import Runs, collect
from jumpnet.report.comparisons import ablation_deltas
from jumpnet.report.figures import build_figures, save_figures
from jumpnet.report.readme import write_readme


@dataclass
class Report:
    """What a report was built from and what it shows, for callers (and tests) to inspect."""

    out: Path
    runs: Runs
    arms: pd.DataFrame  # one row per model x width x setting x variant: comparisons.ablation_deltas
    tables: list[tbl.Table]
    figures: dict[str, Figure]


def build_report(dirs: list[str | Path], out: str | Path) -> Report:
    """Collect the runs under ``dirs`` and write the whole report into ``out``."""
    runs = collect(dirs)
    if runs.completed.empty:
        found = f"{len(runs.runs)} run folders, none completed" if len(runs.runs) else "no run folders"
        raise SystemExit(f"jumpnet.report: no completed runs under {', '.join(map(str, runs.dirs))} ({found}).")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs.runs.to_csv(out / "results.csv", index=False)
    arms = ablation_deltas(runs.runs)
    data = tbl.describe_data(runs.completed)
    tables = [tbl.architectures(arms, data), tbl.ablations(arms, data), equal_budget(arms, data)]
    tables = [t for t in tables if t is not None]
    for table in tables:
        table.write(out)
    figures = build_figures(arms, runs.history)
    save_figures(figures, out)
    write_readme(out, runs, tables, list(figures), data)
    return Report(out, runs, arms, tables, figures)


__all__ = ["Report", "build_report"]
