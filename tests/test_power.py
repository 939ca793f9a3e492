"""Power before the money is spent: the simulated Welch power against independent computations, and make plan's
power lines for a preset's primary family, sigma from finished runs or the prior."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from jumpnet.errors import ConfigError
from jumpnet.sweep import plan
from jumpnet.sweep.arms import load_sweep
from jumpnet.sweep.power import detectable, power, seeds_needed
from tests.conftest import TINY_DATA, WITH_TEST_CONF

GRID = ["model=tiny_jumpnet", "ablation=full,no_links,add", "seed=0,1,2", *TINY_DATA, "trainer.epochs=1",
        "trainer.device=cpu", "logger=none", "name=pw", *WITH_TEST_CONF]


def test_simulated_welch_power_agrees_with_scipys_welch_test_and_the_t_distribution() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((4000, 3)), rng.standard_normal((4000, 3)) + 3.0
    direct = np.mean(stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05)  # scipy's own Welch test
    assert power(3.0, 1.0, 3, 3, 0.05) == pytest.approx(direct, abs=0.025)
    # many seeds: Welch's df approach the pooled test's, whose power the noncentral t gives exactly
    ncp, df = 1.0 / np.sqrt(2 / 30), 58
    crit = stats.t.ppf(0.975, df)
    exact = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
    assert power(1.0, 1.0, 30, 30, 0.05) == pytest.approx(exact, abs=0.01)
    # no difference: the test's own size, which for Welch with 5 seeds is a little under alpha (about 0.044)
    null = stats.ttest_ind(*rng.standard_normal((2, 50_000, 5)), axis=1, equal_var=False).pvalue
    size = power(0.0, 1.0, 5, 5, 0.05)
    assert size == pytest.approx(np.mean(null < 0.05), abs=0.005) and size < 0.05


def test_the_audits_figures_three_seeds_and_holm_over_25_comparisons() -> None:
    """Issue 20: 3 seeds, Holm over 25: 1.15 / 2.30 / 3.45 pt detectable for sigma 0.1 / 0.2 / 0.3; 0.3 pt needs
    7 / 17 / 34 seeds with Holm over 25 (4 / 9 / 17 as a single test)."""
    for sigma, mdd, holm25, single in ((0.1, 1.15, 7, 4), (0.2, 2.30, 17, 9), (0.3, 3.45, 34, 17)):
        assert detectable(sigma, 3, 3, 0.05 / 25) == pytest.approx(mdd, abs=0.02)
        assert seeds_needed(0.3, sigma, 0.05 / 25) == holm25 and seeds_needed(0.3, sigma, 0.05) == single
    assert power(detectable(0.2, 10, 10, 0.025), 0.2, 10, 10, 0.025) == pytest.approx(0.8, abs=0.001)


def test_plan_prints_the_primary_familys_power_with_sigma_from_finished_runs(exp_dir) -> None:
    overrides = [*GRID, "plan.primary=[tiny_jumpnet:no_links]", f"paths.experiments_dir={exp_dir}"]
    text = plan.plan(overrides)
    (line,) = [x for x in text.splitlines() if x.startswith("  tiny_jumpnet no_links vs full")]
    assert "3 vs 3 seeds, sigma 0.20 pt (prior plan.sigma" in line and "0.3 pt needs 9 seeds per arm" in line
    assert "Holm's strictest step alpha = 0.05/1 = 0.05" in text and "the other 1 variant-vs-full" in text
    _, arms = load_sweep(overrides)
    accs = {"full": [0.80, 0.81, 0.83], "no_links": [0.78, 0.785, 0.80]}
    for arm in arms:
        label, seed = arm.spec.label, arm.spec.seed
        if label in accs:
            arm.run_dir.mkdir(parents=True)
            record = {"model": "tiny_jumpnet", "ablation": label, "seed": seed, "status": "completed",
                      "test_acc": accs[label][seed], "test_loss": 0.5}  # a valid record: records are checked on read
            (arm.run_dir / "metrics.json").write_text(json.dumps(record))
    pooled = np.sqrt((np.var([80, 81, 83], ddof=1) + np.var([78, 78.5, 80], ddof=1)) / 2)
    text = plan.plan(overrides)
    (line,) = [x for x in text.splitlines() if x.startswith("  tiny_jumpnet no_links vs full")]
    assert f"sigma {pooled:.2f} pt (pooled over 6 finished runs, 4 df)" in line
    assert f"detects {detectable(pooled, 3, 3, 0.05):.2f} pt" in line
    assert "Power of the primary family" not in plan.plan([*GRID, f"paths.experiments_dir={exp_dir}"])  # none declared


def test_a_malformed_primary_entry_is_one_line_naming_it(exp_dir) -> None:
    with pytest.raises(ConfigError, match="plan.primary entry 'tiny_jumpnet-no_links' is neither model:variant"):
        plan.plan([*GRID, "plan.primary=[tiny_jumpnet-no_links]", f"paths.experiments_dir={exp_dir}"])
