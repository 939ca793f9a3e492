"""Time to accuracy: each run's wall time beside the plan's estimate kept at launch, and the first epoch at which a
reference validation accuracy was reached (the report's Time table, runs.csv's columns, ``estimates.json``)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from jumpnet.paths import ESTIMATES_FILE
from jumpnet.report import build_report
from jumpnet.sweep.arms import load_sweep
from jumpnet.sweep.eta import keep_estimates
from jumpnet.sweep.plan import ForwardFlops, price_arm
from jumpnet.sweep.speeds import load_figures
from tests.test_plan import GRID, cpu_label, write_bench
from tests.test_unit_of_analysis import write_run


def with_history(run: Path, wall_s: float, val: list[float], epoch_s: float) -> None:
    """Give a constructed run its wall time and an epoch history (validation accuracy per epoch)."""
    record = json.loads((run / "metrics.json").read_text())
    record.update(wall_time_s=wall_s, epochs=len(val), history=[
        {"epoch": i + 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": acc, "lr": 0.1,
         "time_s": epoch_s} for i, acc in enumerate(val)])
    (run / "metrics.json").write_text(json.dumps(record))


def time_rows(md: str) -> dict[str, list[str]]:
    """The Time table's rows by variant: its cells after Model and Variant."""
    return {line.split("|")[2].strip(): [c.strip() for c in line.split("|")[3:-1]]
            for line in md.splitlines() if line.startswith("| JumpNet")}


def test_the_time_table_sets_each_arms_wall_time_beside_its_estimate_and_its_time_to_82(tmp_path: Path) -> None:
    sweep = tmp_path / "experiments" / "cpu_study"
    runs = {("full", 0): (1200.0, [0.70, 0.83, 0.85], 400.0), ("full", 1): (1500.0, [0.71, 0.80, 0.84], 500.0),
            ("no_links", 0): (900.0, [0.60, 0.70, 0.75], 300.0), ("no_links", 1): (960.0, [0.6, 0.7, 0.8], 320.0)}
    for (variant, seed), (wall, val, epoch_s) in runs.items():
        with_history(write_run(sweep, "jumpnet", variant, seed, acc=val[-1]), wall, val, epoch_s)
    (sweep / ESTIMATES_FILE).write_text(json.dumps({"runs": {
        "jumpnet-full-s0": {"estimate_s": 1000.0}, "jumpnet-full-s1": {"estimate_s": 1000.0},
        "jumpnet-no_links-s0": {"estimate_s": 600.0}}}))  # no_links-s1 has none: its ratio is not invented
    report = build_report([sweep], tmp_path / "report")
    md = (report.out / "table_time.md").read_text()
    rows = time_rows(md)
    # runs, wall time per run (min) mean [min-max], estimate (min), actual/estimate, first epoch >= 82%, time to it
    assert rows["full"] == ["2", "22.5 [20.0-25.0]", "16.7", "1.35", "2.5 (2 of 2)", "19.2"]  # epochs 2, 3; 800, 1500 s
    assert rows["no_links"] == ["2", "15.5 [15.0-16.0]", "10.0", "1.50", "not reached (0 of 2)", "—"]
    assert "Validation, not test" in md and "82%" in md and "Time to accuracy" not in md
    table = pd.read_csv(report.out / "runs.csv").set_index("seed").sort_index()
    full = table[table["ablation"] == "full"]
    assert full["estimate_s"].tolist() == [1000.0, 1000.0] and full["ratio"].tolist() == [1.2, 1.5]
    assert full["reach_epoch"].tolist() == [2, 3] and full["reach_s"].tolist() == [800.0, 1500.0]
    assert "Time." in (report.out / "README.md").read_text()
    one = build_report([sweep / "jumpnet-full-s1"], tmp_path / "one")  # a run folder: its sweep's estimates found
    assert time_rows((one.out / "table_time.md").read_text())["full"][1:4] == ["25.0", "16.7", "1.50"]

    (sweep / ESTIMATES_FILE).write_text("{damaged")  # a damaged file loses its estimates, not the report
    rows = time_rows((build_report([sweep], tmp_path / "again").out / "table_time.md").read_text())
    assert rows["full"] == ["2", "22.5 [20.0-25.0]", "—", "—", "2.5 (2 of 2)", "19.2"]


def test_the_sweeper_keeps_each_runs_first_estimate_in_the_sweep_folder(exp_dir: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    write_bench(reports, cpu_label(1), img_s=1000.0)
    _, arms = load_sweep([*GRID, f"paths.experiments_dir={exp_dir}"])
    runs = [a for a in arms if not a.left_out]
    sweep = Path(str(runs[0].cfg.hydra.sweep.dir))  # not made yet: a new sweep's folder comes with its first job
    assert keep_estimates(sweep, runs, reports) == len(runs) == 2  # both were new (one without a figure)
    kept = json.loads((sweep / ESTIMATES_FILE).read_text())["runs"]
    priced = {a.name: price_arm(a, ForwardFlops(), load_figures(reports), None)["_s"] for a in runs}
    jumpnet = next(a.name for a in runs if a.name.endswith("tiny_jumpnet-full-s0"))  # under its override levels
    assert kept[jumpnet]["estimate_s"] == round(priced[jumpnet], 1) and kept[jumpnet]["device"] == cpu_label(1)
    assert len(kept) == 1  # no figure of tiny_resnet_v2: no estimate invented

    kept[jumpnet]["estimate_s"] = 1.0  # the estimate made before the run: a later sweep never replaces it
    (sweep / ESTIMATES_FILE).write_text(json.dumps({"runs": kept}))
    keep_estimates(sweep, runs, reports)
    assert json.loads((sweep / ESTIMATES_FILE).read_text())["runs"][jumpnet]["estimate_s"] == 1.0
    (sweep / ESTIMATES_FILE).write_text("[")  # damaged: estimated again
    keep_estimates(sweep, runs, reports)
    assert json.loads((sweep / ESTIMATES_FILE).read_text())["runs"][jumpnet]["estimate_s"] == round(priced[jumpnet], 1)
    assert keep_estimates(sweep, runs, tmp_path / "no-reports") == 0  # no figure for this device: nothing kept
