"""The report generator on real run folders: numbers recomputed independently, LaTeX, figures, missing runs."""
from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy import stats

from jumpnet.report import Report, build_report
from jumpnet.report.collect import collect, ordered
from jumpnet.run.predictions import PREDICTIONS, read_predictions
from tests.conftest import run_module, wandb_records

VARIANTS = ["full", "no_links", "add"]
SEEDS = [0, 1]
FIGURES = {  # file stem: (x label, y label); the tiny JumpNet has ~5K parameters and ~2M MACs
    "fig_acc_vs_params": ("Parameters (K)", "Test accuracy (%)"),   # one width: a narrow range, a linear axis
    "fig_acc_vs_macs": ("MACs per image (M)", "Test accuracy (%)"),
    "fig_val_curves": ("Epoch", "Val. acc. (%)"),
    "fig_ablation_deltas": ("Δ test acc. vs full (pp)", ""),        # horizontal bars: one row per arm
}


@pytest.fixture(scope="session")
def sweep(report_sweep: Path) -> Path:
    """The real multirun of conftest's ``report_sweep``: tiny JumpNet, 3 variants x 2 seeds, 2 epochs."""
    return report_sweep


@pytest.fixture(scope="session")
def report(sweep: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    return build_report([sweep], tmp_path_factory.mktemp("reports") / "test")


def records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("metrics.json"))]


def arm(report: Report, variant: str) -> pd.Series:
    rows = report.arms[(report.arms["model"] == "jumpnet") & (report.arms["ablation"] == variant)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_sweep_is_complete(sweep: Path, report: Report) -> None:
    assert len(records(sweep)) == len(VARIANTS) * len(SEEDS)
    assert report.runs.problems.empty and len(report.runs.completed) == len(VARIANTS) * len(SEEDS)
    csv = pd.read_csv(report.out / "runs.csv")
    assert len(csv) == len(VARIANTS) * len(SEEDS)
    assert {"run_dir", "model", "ablation", "seed", "status", "test_acc", "params", "macs",
            "ablation.links"} <= set(csv)
    assert "history" not in csv  # scalars only


def test_means_stds_and_deltas_match_an_independent_computation(sweep: Path, report: Report) -> None:
    acc = {v: [100 * r["test_acc"] for r in records(sweep) if r["ablation"] == v] for v in VARIANTS}
    params = {r["ablation"]: r["params"] for r in records(sweep)}
    md = (report.out / "table_ablations.md").read_text()
    for variant in VARIANTS:
        row, xs = arm(report, variant), acc[variant]
        assert row["n"] == len(SEEDS)
        assert row["acc_mean"] == pytest.approx(statistics.mean(xs))
        assert row["acc_std"] == pytest.approx(statistics.stdev(xs))
        assert f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}" in md
        if variant == "full":
            assert math.isnan(row["delta"])
            continue
        f = acc["full"]
        assert row["delta"] == pytest.approx(statistics.mean(xs) - statistics.mean(f))
        assert row["d_params"] == params[variant] - params["full"]
        # Welch: standard error and Welch-Satterthwaite degrees of freedom, by hand.
        a, b = statistics.variance(xs) / len(xs), statistics.variance(f) / len(f)
        if a + b == 0:
            assert math.isnan(row["p"])
            continue
        df = (a + b) ** 2 / (a ** 2 / (len(xs) - 1) + b ** 2 / (len(f) - 1))
        half = stats.t.ppf(0.975, df) * math.sqrt(a + b)
        assert row["ci_low"] == pytest.approx(row["delta"] - half)
        assert row["ci_high"] == pytest.approx(row["delta"] + half)
        assert row["p"] == pytest.approx(2 * stats.t.sf(abs(row["delta"]) / math.sqrt(a + b), df))
    tested = report.arms["p"].dropna().sort_values()
    if len(tested) == 2:  # Holm over the table's two comparisons: 2 p_(1), then max(that, p_(2))
        first = min(1.0, 2 * tested.iloc[0])
        assert report.arms.loc[tested.index, "p_holm"].tolist() == pytest.approx([first, max(first, tested.iloc[1])])


def test_tables_are_written_in_study_order_with_a_caption(report: Report) -> None:
    md = (report.out / "table_ablations.md").read_text()
    assert md.index("| full") < md.index("| no_links") < md.index("| add")
    tex = (report.out / "table_ablations.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex
    assert ("\\bfseries" in tex) == bool(report.arms["best"].any())  # bold only for a significant best
    assert "no\\_links" in tex and "Welch" in tex and "n = 2" in tex and "synthetic data" in tex
    arch = (report.out / "table_architectures.md").read_text()
    assert "JumpNet" in arch and "32×8×8" in arch  # the tiny JumpNet's feature map


def test_latex_compiles(report: Report, tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-recommended)")
    doc = tmp_path / "doc.tex"
    tables = "".join(f"\\input{{{report.out.resolve() / f'table_{n}.tex'}}}\n" for n in ("architectures", "ablations"))
    doc.write_text("\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n"
                   f"\\begin{{document}}\n{tables}\\end{{document}}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_figures_are_valid_files_with_labelled_axes(report: Report) -> None:
    assert set(report.figures) == set(FIGURES)
    for stem, (xlabel, ylabel) in FIGURES.items():
        pdf, png = (report.out / f"{stem}.pdf").read_bytes(), (report.out / f"{stem}.png").read_bytes()
        assert pdf.startswith(b"%PDF") and b"/Type3" not in pdf  # TrueType (fonttype 42), as venues require
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        fig = report.figures[stem]
        assert fig.get_size_inches()[0] == pytest.approx(3.4)
        axes = [ax for ax in fig.axes if ax.axison]
        assert axes[-1].get_xlabel() == xlabel and axes[0].get_ylabel() == ylabel
        assert fig.legends or any(ax.get_legend() for ax in fig.axes)
    readme = (report.out / "README.md").read_text()
    assert all(f"]({stem}.png)" in readme for stem in FIGURES)


def test_failed_diverged_and_unfinished_runs_are_listed(sweep: Path, tmp_path: Path) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    runs = {p.name: p for p in copy.rglob("jumpnet-*-s*")}
    failed = json.loads((runs["jumpnet-add-s1"] / "metrics.json").read_text())
    failed.update(status="failed", error="RuntimeError: boom", test_acc=None)
    (runs["jumpnet-add-s1"] / "metrics.json").write_text(json.dumps(failed))
    diverged = json.loads((runs["jumpnet-no_links-s0"] / "metrics.json").read_text())
    (runs["jumpnet-no_links-s0"] / "metrics.json").write_text(json.dumps({**diverged, "status": "diverged"}))
    (runs["jumpnet-full-s1"] / "metrics.json").unlink()  # .hydra and checkpoint.pt remain: interrupted
    report = build_report([copy], tmp_path / "report")
    problems = report.runs.problems.set_index("status")["run_dir"]
    assert problems.to_dict() == {"failed": str(runs["jumpnet-add-s1"]), "diverged": str(runs["jumpnet-no_links-s0"]),
                                  "unfinished": str(runs["jumpnet-full-s1"])}
    readme = (tmp_path / "report" / "README.md").read_text()
    section = readme[readme.index("## Runs not in the tables"):]
    for status, folder in problems.items():
        assert status in section and str(folder) in section
    assert "RuntimeError: boom" in section
    assert (report.arms["n"] == 1).all()  # each arm lost one of its two seeds...
    table = (tmp_path / "report" / "table_ablations.md").read_text()
    for variant, note in (("full", "1, 1 unfinished"), ("no_links", "1, 1 diverged"), ("add", "1, 1 failed")):
        assert re.search(rf"\| {variant} +\|[^|]*\| {note} +\|", table), (variant, note)  # ...and says so


def test_an_arm_with_no_completed_run_is_a_cross_in_the_figures(sweep: Path, tmp_path: Path) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    for path in copy.rglob("jumpnet-no_links-s*/metrics.json"):  # every seed of no_links diverged
        path.write_text(json.dumps({**json.loads(path.read_text()), "status": "diverged", "test_acc": None}))
    report = build_report([copy], tmp_path / "report")
    ax = report.figures["fig_ablation_deltas"].axes[0]
    assert [t.get_text() for t in ax.texts] == ["2 diverged"]          # where its bar would be, never a gap
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [0]


def test_cli_writes_the_report_and_refuses_no_completed_runs(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "cli"
    proc = run_module("jumpnet.report", [str(sweep), "--out", str(out), "--wandb"], timeout=120,
                      WANDB_DATA_DIR=str(tmp_path / "wandb-data"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("runs.csv", "arms.csv", "history.csv", "README.md", "table_architectures.md",
                 "table_architectures.tex", "table_ablations.md", "table_ablations.tex",
                 *(f"{s}.{e}" for s in FIGURES for e in ("pdf", "png"))):
        assert (out / name).is_file(), name
    # --wandb: every file of the report folder in one `report` artifact of a W&B run of its own
    records = wandb_records(out)
    (artifact,) = [r["artifact"] for r in records if r["type"] == "artifact" and r["artifact"]["type"] == "report"]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "wandb" not in p.parts)
    assert artifact["type"] == "report" and artifact["name"] == "report-cli" and "README.md" in files
    assert sorted(c["path"] for c in artifact["manifest"]["contents"]) == files
    run = next(r["run"] for r in records if r["type"] == "run")
    assert run["display_name"] == "report-cli" and run["run_group"] == "cli"
    # a dashboard: the arm and run tables as wandb.Table, each figure as wandb.Image, read back from the offline files
    (logged,) = [r["history"]["item"] for r in records if r["type"] == "history"]
    (files,) = (out / "wandb").glob("offline-run-*/files")
    for key, csv in (("arms", "arms.csv"), ("runs", "runs.csv")):
        frame = pd.read_csv(out / csv)
        assert logged[f"{key}._type"] == "table-file" and logged[f"{key}.nrows"] == len(frame)
        table = json.loads((files / logged[f"{key}.path"]).read_text())
        assert table["columns"] == list(frame.columns) and len(table["data"]) == len(frame)
    arms_table = json.loads((files / logged["arms.path"]).read_text())
    means = [row[arms_table["columns"].index("acc_mean")] for row in arms_table["data"]]
    assert means == pytest.approx(pd.read_csv(out / "arms.csv")["acc_mean"].tolist())
    for stem in FIGURES:
        assert logged[f"figures/{stem}._type"] == "image-file"
        assert (files / logged[f"figures/{stem}.path"]).read_bytes().startswith(b"\x89PNG")
    empty = tmp_path / "empty"
    (empty / "jumpnet-full-s0" / ".hydra").mkdir(parents=True)
    proc = run_module("jumpnet.report", [str(empty), "--out", str(tmp_path / "none")], timeout=120)
    assert proc.returncode != 0 and str(empty) in proc.stderr and "no completed runs" in proc.stderr
    assert not (tmp_path / "none").exists()


def test_keys_that_leave_what_a_run_measures_unchanged_never_split_an_arm(sweep: Path, tmp_path: Path) -> None:
    """A seed resumed with another compile mode, runs_per_gpu, thread count or data.root is the same arm (the
    schema's neutral keys, which run folder names leave out too); another epoch count is not."""
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    (config,) = copy.rglob("jumpnet-add-s1/.hydra/config.yaml")
    cfg = yaml.safe_load(config.read_text())
    cfg["trainer"].update(compile="default", runs_per_gpu=2, threads=2)
    cfg["data"]["root"] = "elsewhere"
    config.write_text(yaml.safe_dump(cfg))
    runs = collect([copy])
    assert runs.setting_columns == [] and not [c for c in runs.config_columns if c.startswith(("trainer.", "data."))]
    cfg["trainer"]["epochs"] = 3
    config.write_text(yaml.safe_dump(cfg))
    assert collect([copy]).setting_columns == ["trainer.epochs"]


def test_study_order_comes_first_then_other_names() -> None:
    models = ordered(pd.Series(["zeta", "plain_cnn", "densenet", "jumpnet", "alpha"]),
                     ["jumpnet", "resnet_v2", "densenet", "sparsenet", "plain_cnn"])
    assert list(models.categories) == ["jumpnet", "densenet", "plain_cnn", "alpha", "zeta"]
    variants = ordered(pd.Series(["head_fc", "concat", "full"]), ["full", "no_links", "add", "concat"])
    assert list(variants.categories) == ["full", "concat", "head_fc"] and variants.ordered



def test_every_completed_run_keeps_its_predictions_and_they_give_its_test_acc(sweep: Path, report: Report) -> None:
    for record_path in sweep.rglob("metrics.json"):
        record = json.loads(record_path.read_text())
        path = record_path.parent / PREDICTIONS
        preds = read_predictions(record_path.parent, record["test_acc"])
        assert preds is not None and len(preds.label) == 128 and preds.pred.dtype.kind == "i"
        assert preds.accuracy == record["test_acc"] and path.stat().st_size < 2_000  # compact: 128 images
    assert not report.per_image.missing and len(report.per_image.by_run) == len(VARIANTS) * len(SEEDS)
    labels = {tuple(p.label) for p in report.per_image.by_run.values()}
    assert len(labels) == 1  # every run tested on the same images, in the same order
    for variant in ("no_links", "add"):
        row = arm(report, variant)
        assert row["boot_low"] <= row["delta"] <= row["boot_high"]  # seeds and images resampled
    md = (report.out / "table_ablations.md").read_text()
    assert "95% CI (seeds + images)" in md and "2 pairs" in md
