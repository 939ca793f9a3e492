"""The report as a paper's reader and a data analyst meet it: the setup stated (and split where runs differ), bold
only where the printed values differ, the families' display names from their YAMLs, tidy CSVs with every column
documented, and a report without any completed ``full`` arm."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from jumpnet.report import build_report
from jumpnet.report.ablation_table import ablations
from jumpnet.report.comparisons import ablation_deltas
from jumpnet.report.exports import COLUMNS
from jumpnet.report.tables import architectures, printed_ties
from tests.test_stats import fake_runs


def edit_runs(root: Path, change) -> None:
    """Apply ``change(record, config)`` to every run under ``root`` (both written back)."""
    for record_path in root.rglob("metrics.json"):
        config_path = record_path.parent / ".hydra" / "config.yaml"
        record, config = json.loads(record_path.read_text()), yaml.safe_load(config_path.read_text())
        change(record, config)
        record_path.write_text(json.dumps(record))
        config_path.write_text(yaml.safe_dump(config))


def test_values_equal_as_printed_are_never_bold() -> None:
    text = pd.DataFrame({"Size (MiB)": ["3.11", "3.11", "4.00"], "Test acc. (%)": ["90.50 ± 0.01", "90.50 ± 0.02",
                                                                                   "80.00 ± 0.10"]})
    best = pd.DataFrame({"Size (MiB)": [True, False, False], "Test acc. (%)": [True, False, False]})
    assert not printed_ties(text, best).to_numpy().any()
    assert printed_ties(text, best, pd.Series(["a", "b", "b"])).iloc[0].all()   # alone in its group: stays bold
    # through the tables: sizes 3.1108 and 3.1133 print "3.11"; accuracies 90.501 and 90.498 print "90.50"
    runs = fake_runs([*[("a", 1.0, "full", s, "completed", 0.90501 + d, 1000) for s, d in enumerate([0, 1e-6, 2e-6])],
                      *[("b", 1.0, "full", s, "completed", 0.90498 + d, 1000) for s, d in enumerate([0, 1e-6, 2e-6])]])
    runs["size_mb"] = runs["model"].map({"a": 3.1108, "b": 3.1133}).astype(float)
    arms = ablation_deltas(runs)
    assert arms["best_overall"].any()          # the test finds a winner, 0.003 pp ahead with no spread...
    table = architectures(arms, "test data")
    assert (table.text["Size (MiB)"] == "3.11").all() and (table.text["Test acc. (%)"] == "90.50 ± 0.00").all()
    assert not table.best.to_numpy().any() and "**" not in table.markdown()   # ...which the page cannot show
    variants = fake_runs([*[("a", 1.0, "full", s, "completed", 0.90501 + d, 1000) for s, d in enumerate([0, 1e-6])],
                          *[("a", 1.0, "add", s, "completed", 0.90498 + d, 1000) for s, d in enumerate([0, 1e-6])]])
    assert "**" not in ablations(ablation_deltas(variants), "test data").markdown()


def test_the_setup_block_states_the_recipe_and_splits_where_sweeps_differ(report_sweep: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(report_sweep, other)
    edit_runs(other, lambda record, config: config["trainer"].update(epochs=3, weight_decay=0.001))
    report = build_report([report_sweep, other], tmp_path / "report")
    setup = report.setup
    assert setup["Data"] == "synthetic data" and setup["Splits"] == "train 192, val 64, test 128"
    assert setup["Schedule"] == "differs: S1: 2 epochs, cosine; S2: 3 epochs, cosine"
    assert "S1: SGD lr 0.1, momentum 0.9, Nesterov, weight decay 0.0005, batch 128" in setup["Optimizer"]
    assert "S2: SGD lr 0.1, momentum 0.9, Nesterov, weight decay 0.001, batch 128" in setup["Optimizer"]
    assert setup["Augmentation"] == "random crop (padding 4) + horizontal flip" and setup["Seeds"] == "0, 1 (every arm)"
    assert setup["Selection"].startswith("weights of the epoch with the best validation accuracy")
    assert setup["Hardware"].split(", ")[0] == "cpu" and "torch " in setup["Versions"]   # then the precision
    sha = json.loads(next(report_sweep.rglob("metrics.json")).read_text())["git_sha"]
    assert setup["Code"].startswith(sha[:10]) and ("uncommitted" in setup["Code"] or "clean" in setup["Code"])
    readme = (report.out / "README.md").read_text()
    block = readme[readme.index("## Setup"):readme.index("## Table 1")]
    assert "| Schedule | differs: S1: 2 epochs, cosine; S2: 3 epochs, cosine |" in block
    assert "| S2 | `trainer.epochs=3, trainer.weight_decay=0.001` |" in block
    for table in ("architectures", "ablations"):   # every LaTeX caption carries the compact setup
        tex = (report.out / f"table_{table}.tex").read_text()
        assert "Setup: data synthetic data; splits train 192, val 64, test 128; schedule differs: S1: 2 epochs" in tex
        assert "Setup:" not in (report.out / f"table_{table}.md").read_text()   # the README states it once
        caption = next(t.caption for t in report.tables if t.name == table)
        assert len(caption) < 800   # the recipe lives in the setup block


def test_tidy_exports_hold_every_run_arm_and_epoch_and_say_what_each_column_means(report_sweep: Path,
                                                                                    tmp_path: Path) -> None:
    report = build_report([report_sweep], tmp_path / "report")
    runs, arms, history = (pd.read_csv(report.out / f) for f in ("runs.csv", "arms.csv", "history.csv"))
    records = [json.loads(p.read_text()) for p in report_sweep.rglob("metrics.json")]
    assert len(runs) == len(records) and {"test_acc", "trainer.epochs", "trainer.lr", "data.val_size", "seed",
                                          "model_name", "git_sha"} <= set(runs.columns)
    assert sorted(runs["test_acc"]) == sorted(r["test_acc"] for r in records)
    assert (runs["trainer.epochs"] == 2).all() and (runs["model_name"] == "JumpNet").all()
    assert len(history) == sum(len(r["history"]) for r in records) and set(history["epoch"]) == {1, 2}
    assert {"run_dir", "seed", "ablation", "val_acc", "train_loss", "lr"} <= set(history.columns)
    assert len(arms) == 3 and list(arms.columns[:3]) == ["model", "model_name", "width"]
    for _, arm in arms.iterrows():
        mine = [100 * r["test_acc"] for r in records if r["ablation"] == arm["ablation"]]
        assert arm["n"] == 2 and abs(arm["acc_mean"] - sum(mine) / 2) < 1e-9
        assert arm["acc_low"] <= arm["acc_mean"] <= arm["acc_high"] or arm["acc_std"] == 0   # no spread: no interval
        assert sorted(json.loads(arm["seed_acc"]).values()) == sorted(round(v, 6) for v in mine)
    readme = (report.out / "README.md").read_text()
    section = readme[readme.index("## Data files"):]
    for name, columns in COLUMNS.items():
        assert f"### {name}" in section and all(f"| `{c}` |" in section for c in columns)
    documented = {c.strip() for cols in COLUMNS["arms.csv"] for c in cols.split(",")}
    key = {"n_failed", "n_unfinished", "div_low", "div_high", "macs", "flops", "size_mb", "d_macs", "test", "family",
           "pairs"}   # named inside another column's meaning
    assert set(arms.columns[:len(COLUMNS["arms.csv"])]) <= documented | key


@pytest.mark.filterwarnings("error")
def test_a_report_without_a_completed_full_arm(report_sweep: Path, tmp_path: Path) -> None:
    """Every full run diverged, then no full run at all: Tables 2 and the figures still come, Table 1 says why not."""
    diverged = tmp_path / "diverged"
    shutil.copytree(report_sweep, diverged)
    for path in diverged.rglob("jumpnet-full-s*/metrics.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "status": "diverged", "test_acc": None}))
    report = build_report([diverged], tmp_path / "r1")
    arch = next(t for t in report.tables if t.name == "architectures")
    assert arch.text["Test acc. (%)"].tolist() == ["—"] and arch.text["n"].tolist() == ["0, 2 diverged"]
    none = tmp_path / "none"
    shutil.copytree(report_sweep, none)
    for run_dir in list(none.rglob("jumpnet-full-s*")):
        shutil.rmtree(run_dir)
    report = build_report([none], tmp_path / "r2")
    assert [t.name for t in report.tables] == ["ablations", "time"] and set(report.figures) >= {"fig_ablation_deltas"}
    assert "No Table 1 (architectures): no run of a `full` variant" in (tmp_path / "r2" / "README.md").read_text()
