"""experiment=budget end to end: arms per family through the sweeper, matched arms, and the budget report."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from jumpnet.config.compose import compose_config
from jumpnet.models.matching import TOLERANCE
from jumpnet.report import Report, build_report
from jumpnet.report.budget import equal_budget
from jumpnet.report.comparisons import ablation_deltas
from jumpnet.sweep.budgets import budget_width
from tests.conftest import ROOT, TINY_DATA, WITH_TEST_CONF, find_runs, run_py
from tests.test_stats import fake_runs

ARMS = ["model=tiny_jumpnet,tiny_resnet_v2 model.width_mult=0.5,1",
        "model=tiny_jumpnet,tiny_resnet_v2 ablation=add_matched,no_links,no_shortcuts"]


@pytest.fixture(scope="module")
def budget_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The budget preset with tiny families: 2 widths each plus matched arms, 2 seeds, 1 epoch (16 runs)."""
    experiments = tmp_path_factory.mktemp("budget") / "experiments"
    arms = "[" + ",".join(f'"{a}"' for a in ARMS) + "]"
    proc = run_py(["-m", "experiment=budget", f"hydra.sweeper.arms={arms}", "seed=0,1", *TINY_DATA,
                   "trainer.epochs=1", "trainer.warmup_epochs=0", "trainer.device=cpu", "trainer.threads=1",
                   "logger=none", *WITH_TEST_CONF,
                   f"paths.experiments_dir={experiments}"], timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return experiments / "budget", proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def budget_report(budget_sweep, tmp_path_factory: pytest.TempPathFactory) -> Report:
    return build_report([budget_sweep[0]], tmp_path_factory.mktemp("reports") / "budget")


def test_budget_preset_shares_the_ablation_schedule() -> None:
    budget, ablation = compose_config(["experiment=budget"]), compose_config(["experiment=ablation"])
    for group in ("trainer", "data"):
        assert OmegaConf.to_container(budget[group]) == OmegaConf.to_container(ablation[group]), group
    arms = list(budget.hydra.sweeper.arms) if "hydra" in budget else None
    assert arms is None or len(arms) >= 5


def test_arms_sweep_runs_each_family_at_its_widths_and_drops_duplicates(budget_sweep) -> None:
    root, log = budget_sweep
    runs = {(p.parent.parent.name, p.parent.name): json.loads(p.read_text()) for p in root.rglob("metrics.json")}
    assert len(runs) == 16 and all(r["status"] == "completed" for r in runs.values())
    names = sorted({name.rsplit("-s", 1)[0] for _, name in runs})
    assert names == ["tiny_jumpnet-add_matched", "tiny_jumpnet-full", "tiny_jumpnet-no_links",
                     "tiny_jumpnet-no_shortcuts", "tiny_resnet_v2-full", "tiny_resnet_v2-no_links"]
    assert "Sweep: 16 runs, 0 already completed, 16 to launch" in log
    # ResNet v2: add is its full arm (matched at ratio 1), and without identity adds there are no shortcuts
    for arm, same in (("add_matched", "model.width_mult=1[^\n]*tiny_resnet_v2-full-s"),
                      ("no_shortcuts", "tiny_resnet_v2-no_links-s")):
        assert re.search(rf"Left out: [^\n]*tiny_resnet_v2 ablation={arm} [^\n]*builds the same network as "
                         rf"[^\n]*{same}", log)
    widths = sorted({r["width_mult"] for r in runs.values()
                     if r["model"] == "tiny_jumpnet" and r["ablation"] == "full"})
    assert widths == [0.5, 1.0]
    matched = [r for r in runs.values() if r["ablation"] == "add_matched"]
    assert len(matched) == 2 and all(r["match"] == "params" and r["match_target"] == 5150 for r in matched)
    assert all(r["params"] == round(r["match_ratio"] * 5150) and r["width_mult"] == 1.0 for r in matched)


def test_budget_report_has_curves_table_three_and_matched_deltas(budget_report: Report) -> None:
    out = budget_report.out
    table3 = (out / "table_equal_budget.md").read_text()
    assert "Tiny JumpNet" in table3 and "Tiny ResNet v2" in table3 and "interpolated linearly in log-params" in table3
    fig = budget_report.figures["fig_acc_vs_params"]
    lines = {c.get_label(): c.lines[0] for c in fig.axes[0].containers}  # errorbar: line and 95% CI bars
    assert set(lines) == {"Tiny JumpNet", "Tiny ResNet v2"}   # their YAMLs' display names
    assert all(len(lines[f].get_xdata()) == 2 for f in lines)  # one point per width, joined
    assert fig.axes[0].get_xscale() == "log"
    arms = budget_report.arms.set_index(["model", "width", "ablation"])
    row = arms.loc[("tiny_jumpnet", 1.0, "add_matched")]
    full = arms.loc[("tiny_jumpnet", 1.0, "full")]
    assert row["delta"] == pytest.approx(row["acc_mean"] - full["acc_mean"]) and row["pairs"] == 2
    assert arms.loc[("tiny_jumpnet", 0.5, "full"), "n"] == 2
    md = (out / "table_ablations.md").read_text()
    assert "add_matched (×" in md and "| ×0.5 " in md and "paired p (Holm)" in md
    readme = (out / "README.md").read_text()
    assert "## Table 3: equal_budget" in readme and "Widths (`model.width_mult`, the budget): 0.5, 1" in readme


def test_a_malformed_arm_stops_the_sweep_before_any_run(tmp_path: Path) -> None:
    proc = run_py(["-m", 'hydra.sweeper.arms=["model=tiny_jumpnet model.width_mult=[0.5"]', *TINY_DATA, "logger=none",
                   *WITH_TEST_CONF, f"paths.experiments_dir={tmp_path}"], timeout=120)
    assert proc.returncode != 0 and "hydra.sweeper.arms entry" in proc.stderr
    assert not find_runs(tmp_path)


def test_the_presets_widths_are_the_matchers_solve_at_each_declared_budget() -> None:
    """conf/experiment/budget.yaml trains every family AT plan.budgets: each width is the solver's, within 2%."""
    preset = OmegaConf.load(ROOT / "conf" / "experiment" / "budget.yaml")
    budgets = [int(b) for b in preset.plan.budgets]
    lines = [a for a in preset.hydra.sweeper.arms if "model.width_mult=" in a]
    assert len(lines) == 5 and "equal_budget" in preset.plan.primary
    for line in lines:
        model = re.search(r"model=(\w+)", line).group(1)
        widths = [float(w) for w in re.search(r"model.width_mult=([\d.,]+)", line).group(1).split(",")]
        for width, target in zip(widths, budgets, strict=True):
            solved = budget_width([f"model={model}", "data.archive=null"], target)
            assert solved.width_mult == width and abs(solved.ratio - 1) <= TOLERANCE, (model, target, solved)


def test_table_three_reads_measured_budgets_and_marks_what_it_interpolates() -> None:
    runs = fake_runs([
        *[("a", w, "full", s, "completed", acc + s / 100, p) for w, acc, p in
          ((0.5, 0.80, 1010), (1.0, 0.85, 1990), (2.0, 0.90, 4020)) for s in range(3)],
        *[("b", w, "full", s, "completed", acc + s / 100, p) for w, acc, p in
          ((0.5, 0.70, 995), (2.0, 0.80, 4000)) for s in range(3)],
    ])
    table = equal_budget(ablation_deltas(runs), "test data", budgets=[1000.0, 2000.0, 4000.0])
    rows = table.text.set_index("Params")
    assert list(rows.index) == ["1K", "2K", "4K"]
    assert rows.loc["1K", "a"].startswith("81.00 [") and not rows.loc["1K", "a"].endswith("ⁱ")  # measured: 1,010
    assert rows.loc["2K", "a"].startswith("86.00 [") and not rows.loc["2K", "a"].endswith("ⁱ")
    assert rows.loc["2K", "b"].endswith("ⁱ")  # b was not trained at 2K: interpolated, and marked
    assert "1 cell marked ⁱ is interpolated" in table.caption
    assert table.best.loc[0, "a"]  # 81 vs 71 at 1K, the ranking declared nowhere: one family of all, Holm
    exploratory = equal_budget(ablation_deltas(runs), "test data", [1000.0], primary=["a:no_links"])
    assert not exploratory.best.to_numpy().any() and "exploratory" in exploratory.caption
