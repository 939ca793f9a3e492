"""The report folder's README: tables, figures, and every run the tables leave out.

Runs that failed, diverged or never finished are listed with their folders, so a
reader can tell a clean comparison from one with holes in it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jumpnet.report.collect import Runs
from jumpnet.report.exports import columns_section
from jumpnet.report.families import describe
from jumpnet.report.setup import setup_section
from jumpnet.report.tables import Table
from jumpnet.report.units import PerImage, duplicates

FIGURE_CAPTIONS = {
    "fig_acc_vs_params": "Test accuracy vs parameters: full variants, one line per family through its widths (mean, "
                         "95% CI over seeds; dots: each seed); open markers: matched variants; ×: no completed run.",
    "fig_acc_vs_macs": "Test accuracy vs multiply-adds per image, as above.",
    "fig_val_curves": "Validation accuracy per epoch, one panel per family and setting (mean over seeds, ±1 std).",
    "fig_ablation_deltas": "Each variant minus the full variant of its family, width and setting (bars: 95% CI over "
                           "seeds, Welch; grey: over seeds and test images; dots: each seed's own difference; *: "
                           "p < 0.05, Holm, primary family; ×: no completed run).",
}


def problems_table(runs: Runs) -> str:
    """Markdown list of the runs the tables exclude, or a line saying there are none."""
    bad = runs.problems
    if bad.empty:
        return "None: every run found completed.\n"
    frame = pd.DataFrame({
        "status": bad["status"], "model": bad["model"].astype(str), "variant": bad["ablation"].astype(str),
        "seed": bad["seed"].astype("Int64").astype(str),
        "folder": bad["run_dir"].map(lambda d: f"`{d}`"),
        "error": bad.get("error", pd.Series(index=bad.index, dtype=object)).fillna(""),
    })
    return frame.to_markdown(index=False, tablefmt="github") + "\n"


def repeated_seeds(runs: Runs) -> list[str]:
    """A section naming every arm x seed run more than once (averaged into one unit), with its folders."""
    dup = duplicates(runs.runs)
    if dup.empty:
        return []
    lines = ["## Seeds run more than once", "",
             "The same arm and seed in several folders (say, one config reported from two sweeps) is one unit, not "
             "several: same initialization, same batch order. Their accuracies are averaged into one value per seed "
             "(n counts seeds; the runs are shown as `n (k runs)`).", ""]
    lines += [f"- {row.model} {row.ablation} (width {row.width:g}{', ' + row.setting if row.setting else ''}), seed "
              f"{int(row.seed)}: " + ", ".join(f"`{f}`" for f in row.folders) for row in dup.itertuples()]
    return [*lines, ""]


def prediction_notes(per_image: PerImage) -> list[str]:
    """Completed runs without usable per-image predictions: reported from their accuracy alone, and marked."""
    if not per_image.missing:
        return []
    lines = ["## Runs without per-image predictions", "",
             "Their accuracy counts in every seed-level statistic; the bootstrap over test images and McNemar's "
             "test leave their arms out (marked † in Table 2).", ""]
    return [*lines, *(f"- `{d}`: {why}" for d, why in sorted(per_image.missing.items())), ""]


def write_readme(out: Path, runs: Runs, tables: list[Table], figures: list[str], data: str,
                 per_image: PerImage | None = None, setup: dict[str, str] | None = None) -> Path:
    """Write ``out/README.md``; figures are referenced by their PNG, with the PDF beside it."""
    counts = runs.runs["status"].value_counts().to_dict()
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    differing = ", ".join(f"`{c}`" for c in runs.config_columns if not c.startswith(("model.", "ablation.")))
    lines = [
        f"# Report: {out.name}", "",
        f"Built by `python -m jumpnet.report {' '.join(str(d) for d in runs.dirs)} --out {out}` "
        f"from {len(runs.runs)} run folders ({summary}).", "",
        f"Data: {data}.", "",
        f"Primary family (`plan.primary`, what the study was powered for; Holm runs over it, every other test is "
        f"exploratory): {describe(runs.primary)}." if runs.primary else
        "No primary family declared (`plan.primary`): Holm runs over all comparisons of each table.", "",
        f"Config fields that differ between runs (besides the model's and the ablation's own): {differing or 'none'}. "
        f"Tidy data: [runs.csv](runs.csv), [arms.csv](arms.csv), [history.csv](history.csv) (columns: section "
        f"Data files).", "",
        *setup_section(setup or {}, runs.setting_keys),
    ]
    if not any(t.name == "architectures" for t in tables):
        lines += ["No Table 1 (architectures): no run of a `full` variant is among these runs.", ""]
    widths = sorted(runs.runs["width"].unique())
    if widths != [1.0]:
        lines += [f"Widths (`model.width_mult`, the budget): {', '.join(f'{w:g}' for w in widths)}; each width is "
                  "its own arm (column Width), and each variant is compared with the full variant at its width.", ""]
    if not any(t.name == "equal_budget" for t in tables):
        lines += ["No table at equal budget: it needs two or more families each measured at two or more widths "
                  "(`experiment=budget`).", ""]
    if runs.setting_columns:
        lines += [f"Runs of the same model and variant differ in {', '.join(runs.setting_columns)}; "
                  "they are kept apart (column Setting), never averaged together.", ""]
    for number, table in enumerate(tables, start=1):
        lines += [f"## Table {number}: {table.name}", "", table.markdown(), "", f"*{table.caption}*", "",
                  f"LaTeX: [table_{table.name}.tex](table_{table.name}.tex)", ""]
    lines += ["## Figures", ""]
    for stem in figures:
        lines += [f"![{FIGURE_CAPTIONS.get(stem, stem)}]({stem}.png)", "",
                  f"*{FIGURE_CAPTIONS.get(stem, stem)}* ([PDF]({stem}.pdf))", ""]
    lines += [*repeated_seeds(runs), *prediction_notes(per_image or PerImage()), *columns_section()]
    lines += ["## Runs not in the tables (failed, diverged, unfinished)", "", problems_table(runs)]
    path = out / "README.md"
    path.write_text("\n".join(lines))
    return path
