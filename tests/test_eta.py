"""The ETA a sweep prints at its start is ``make plan``'s estimate of the runs it launches, summed."""
from __future__ import annotations

import json

from jumpnet.run.hardware import cpu_label
from jumpnet.sweep import plan
from jumpnet.sweep.arms import load_sweep
from jumpnet.sweep.eta import eta_line
from tests.conftest import TINY_DATA, WITH_TEST_CONF

TINY_FLOPS = 3_826_304  # tiny_jumpnet's forward FLOPs per image (python -m jumpnet.describe)
GRID = ["model=tiny_jumpnet", "ablation=full,add", "seed=0,1", *TINY_DATA, "trainer.epochs=2", "trainer.device=cpu",
        "trainer.threads=1", "logger=none", "name=eta", *WITH_TEST_CONF]


def test_the_eta_is_the_plans_estimate_summed_or_says_why_there_is_none(exp_dir, tmp_path):
    _, arms = load_sweep([*GRID, f"paths.experiments_dir={exp_dir}"])
    runs = [a for a in arms if not a.left_out]
    reports = tmp_path / "reports"
    assert eta_line(runs, reports).startswith("ETA: no `make bench` figure for cpu")
    (reports / "bench").mkdir(parents=True)
    (reports / "bench" / "bench.json").write_text(json.dumps({
        "device": cpu_label(1), "measured_at": "2026-01-01T00:00:00+00:00", "compile": False, "overrides": [],
        "models": [{"model": "tiny_jumpnet", "flops": TINY_FLOPS, "fast_img_s": 100.0, "plain_img_s": 50.0}]}))
    figures, flops = plan.load_figures(reports), plan.ForwardFlops()
    seconds = sum(plan.price_arm(a, flops, figures, None)["_s"] for a in runs)
    line = eta_line(runs, reports)
    assert len(runs) == 4 and line.startswith(f"ETA: about {plan.fmt_time(seconds)} ")
    assert f"for 4 runs on {cpu_label(1)}" in line and "no figure" not in line
    assert eta_line([], reports) == "ETA: nothing to launch"
