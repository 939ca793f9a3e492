"""Adding a model family is one class and one YAML (README "Add a model"): a family defined outside the package,
swept with an ablation switch, lands in the report."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from jumpnet.paths import CONF_DIR
from jumpnet.report import build_report
from tests.conftest import ROOT, TINY_DATA, find_runs, run_module, run_py

NEW_FAMILY = ROOT / "tests" / "new_family"   # on Hydra's config search path, like tests/conf
WITH_NEW_FAMILY = [f"hydra.searchpath=[file://{NEW_FAMILY}]"]


def test_a_family_outside_the_package_is_swept_and_reported(exp_dir: Path, tmp_path: Path) -> None:
    files = sorted(str(p.relative_to(NEW_FAMILY)) for p in NEW_FAMILY.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    assert files == ["chain_net.py", "model/chain_net.yaml"]   # the whole family: nothing else was edited
    assert not (CONF_DIR / "model" / "chain_net.yaml").exists()

    out = run_py(["-m", "model=chain_net", "ablation=full,no_links", "name=new_family", "trainer.epochs=1",
                  "logger=none", *TINY_DATA, *WITH_NEW_FAMILY, f"paths.experiments_dir={exp_dir}"])
    assert out.returncode == 0, out.stderr[-3000:]
    runs = find_runs(exp_dir / "new_family")
    assert sorted(runs) == ["chain_net-full-s0", "chain_net-no_links-s0"]
    assert all(r["status"] == "completed" and r["model"] == "chain_net" for r in runs.values())
    assert runs["chain_net-full-s0"]["params"] == 1506 and runs["chain_net-full-s0"]["feature_map"] == [8, 32, 32]

    report = tmp_path / "report"
    proc = run_module("jumpnet.report", [str(exp_dir / "new_family"), "--out", str(report)], timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = pd.read_csv(report / "runs.csv")
    assert sorted(zip(results["model"], results["ablation"])) == [("chain_net", "full"), ("chain_net", "no_links")]
    by_arm = results.set_index("ablation")["test_acc"]
    assert by_arm["full"] == runs["chain_net-full-s0"]["test_acc"]
    assert by_arm["no_links"] == runs["chain_net-no_links-s0"]["test_acc"]
    ablations = (report / "table_ablations.md").read_text()
    assert "| ChainNet (ours)" in ablations and "| no_links" in ablations   # its own block, by its display name
    assert "| ChainNet (ours)" in (report / "table_architectures.md").read_text()
    arms = pd.read_csv(report / "arms.csv")
    assert set(arms["model_name"]) == {"ChainNet (ours)"}   # model.display.name of its YAML; no report edit
    # the figures, in process: the same display name, its YAML's colour and marker
    figures = build_report([exp_dir / "new_family"], tmp_path / "again").figures
    legend = [t.get_text() for t in figures["fig_acc_vs_params"].legends[0].get_texts()]
    (line,) = [c.lines[0] for c in figures["fig_acc_vs_params"].axes[0].containers]
    assert "ChainNet (ours)" in legend and line.get_color() == "#E69F00" and line.get_marker() == "P"
    ticks = [t.get_text() for t in figures["fig_ablation_deltas"].axes[0].get_yticklabels()]
    assert ticks == ["ChainNet (ours)"]
    assert [ax.get_title() for ax in figures["fig_val_curves"].axes if ax.axison] == ["ChainNet (ours)"]
