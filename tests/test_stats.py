"""The statistics behind the tables, against values computed by hand: Holm, Welch, paired, intervals, bold."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jumpnet.report.ablation_table import ablations
from jumpnet.report.budget import common_budgets, equal_budget, family_curves
from jumpnet.report.comparisons import ablation_deltas, count_note
from jumpnet.report.stats import combined_interval, compare, holm, mean_interval, paired, welch


def test_holm_matches_the_step_down_by_hand() -> None:
    # sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> kept monotone at 0.06
    adjusted = holm([0.01, 0.04, 0.03, np.nan, 0.005])
    assert adjusted[[0, 1, 2, 4]] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[3])  # no test stays no test, and does not count in the family
    assert holm([0.4, 0.9]) == pytest.approx([0.8, 0.9])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert len(holm([])) == 0


def test_welch_by_hand_and_no_test_without_variance() -> None:
    a, b = np.array([90.0, 92.0, 94.0]), np.array([88.0, 89.0])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 2
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 1)
    diff, low, high, p = welch(a, b)
    assert diff == pytest.approx(92.0 - 88.5)
    assert p == pytest.approx(2 * stats.t.sf(3.5 / math.sqrt(va + vb), df))
    assert high - diff == pytest.approx(stats.t.ppf(0.975, df) * math.sqrt(va + vb))
    # both arms constant: scipy itself reports p = 0 and a zero-width interval, a false certainty
    with pytest.warns(RuntimeWarning):
        assert stats.ttest_ind([90.0, 90.0], [91.0, 91.0], equal_var=False).pvalue == 0.0
    diff, low, high, p = welch(np.array([90.0, 90.0]), np.array([91.0, 91.0]))
    assert diff == -1.0 and all(math.isnan(v) for v in (low, high, p))
    assert not math.isnan(welch(np.array([90.0, 90.0]), np.array([91.0, 93.0]))[3])  # one constant arm is fine
    assert math.isnan(welch(np.array([90.0]), np.array([91.0, 93.0]))[3])  # n = 1: no test


def test_paired_test_uses_the_seeds_both_arms_completed() -> None:
    a = {0: 90.0, 1: 92.0, 2: 94.0}
    b = {0: 89.0, 1: 90.0, 2: 91.0, 3: 50.0}  # seed 3 has no partner: left out of the pairs
    p, pairs = paired(a, b)
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3), df 2
    assert pairs == 3 and p == pytest.approx(2 * stats.t.sf(2 * math.sqrt(3), 2))
    assert p == pytest.approx(stats.ttest_rel([90, 92, 94], [89, 90, 91]).pvalue)
    assert math.isnan(paired({0: 90.0, 1: 91.0}, {0: 89.0, 1: 90.0})[0])  # identical differences: no test
    assert math.isnan(paired({0: 90.0, 1: 91.0}, {1: 89.0, 2: 90.0})[0])  # one shared seed: no test
    both = compare(a, b)
    assert both.p_paired == pytest.approx(p) and both.n_pairs == 3 and not math.isnan(both.p)


def test_intervals_of_a_mean_and_of_an_interpolation() -> None:
    values = np.array([80.0, 82.0, 87.0])
    low, high = mean_interval(values)
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
    assert (low, high) == pytest.approx((values.mean() - half, values.mean() + half))
    assert combined_interval([1.0], [values.mean()], [values.std(ddof=1)], [3])[1:3] == pytest.approx((low, high))
    # halfway between two means of 3 seeds (sd 2 and 1): variance 0.25 * 4/3 + 0.25 * 1/3, Satterthwaite df
    est, low, high, se, df = combined_interval([0.5, 0.5], [80.0, 90.0], [2.0, 1.0], [3, 3])
    var = 0.25 * 4 / 3 + 0.25 * 1 / 3
    assert est == 85.0 and se == pytest.approx(math.sqrt(var))
    assert df == pytest.approx(var ** 2 / ((0.25 * 4 / 3) ** 2 / 2 + (0.25 / 3) ** 2 / 2))
    assert high - est == pytest.approx(stats.t.ppf(0.975, df) * math.sqrt(var))


def fake_runs(rows: list[tuple]) -> pd.DataFrame:
    """Run rows as ``collect`` makes them: (model, width, ablation, seed, status, test_acc, params)."""
    frame = pd.DataFrame(rows, columns=["model", "width", "ablation", "seed", "status", "test_acc", "params"])
    frame["model"] = pd.Categorical(frame["model"], ordered=True)
    frame["ablation"] = pd.Categorical(frame["ablation"], categories=["full", "no_links", "add"], ordered=True)
    return frame.assign(setting="", macs=frame["params"] * 100, flops=frame["params"] * 200, size_mb=1.0,
                        epochs=2, train_time_s=1.0, feature_map="8 x 4 x 4", match_width_mult=np.nan,
                        match_ratio=np.nan)


def test_diverged_runs_are_counted_and_bold_needs_significance() -> None:
    runs = fake_runs([
        ("m", 1.0, "full", 0, "completed", 0.900, 1000), ("m", 1.0, "full", 1, "completed", 0.905, 1000),
        ("m", 1.0, "full", 2, "completed", 0.910, 1000),
        ("m", 1.0, "no_links", 0, "completed", 0.700, 900), ("m", 1.0, "no_links", 1, "completed", 0.705, 900),
        ("m", 1.0, "no_links", 2, "diverged", None, 900),
        ("m", 1.0, "add", 0, "completed", 0.899, 1100), ("m", 1.0, "add", 1, "failed", None, 1100),
        ("m", 1.0, "add", 2, "completed", 0.911, 1100),
    ])
    arms = ablation_deltas(runs).set_index("ablation")
    assert count_note(arms.loc["no_links"]) == "2, 1 diverged" and count_note(arms.loc["add"]) == "2, 1 failed"
    assert arms.loc["no_links", "pairs"] == 2 and arms.loc["add", "pairs"] == 2
    assert arms.loc["no_links", "p_holm"] == pytest.approx(min(1.0, 2 * arms.loc["no_links", "p"]))
    md = ablations(arms.reset_index(), "test data").markdown()
    assert "2, 1 diverged" in md and "2, 1 failed" in md
    # full (90.5) vs runner-up add (90.5): no significant winner, so nothing is bold
    assert "**" not in md
    better = runs.assign(test_acc=runs["test_acc"].where(runs["ablation"] != "add", runs["test_acc"] - 0.2))
    bold = ablations(ablation_deltas(better), "test data").markdown()
    assert "**90.50 ± 0.50**" in bold  # full now clearly beats add (70.5) and no_links (70.25)


def test_a_budget_whose_runs_all_diverged_is_a_cross_on_the_accuracy_curve() -> None:
    from jumpnet.report.figures import accuracy_vs_cost

    runs = fake_runs([
        *[("a", 1.0, "full", s, "completed", 0.8, 1000) for s in range(2)],
        *[("a", 2.0, "full", s, "diverged", None, 4000) for s in range(2)],
    ])
    ax = accuracy_vs_cost(ablation_deltas(runs), "params", "Parameters").axes[0]
    (cross,) = [line for line in ax.lines if line.get_marker() == "x" and len(line.get_xdata())]
    assert list(cross.get_xdata()) == [4.0] and cross.get_ydata()[0] == pytest.approx(ax.get_ylim()[0])  # 4K


def test_equal_budget_interpolates_in_log_params_inside_the_measured_range() -> None:
    runs = fake_runs([
        *[("a", 1.0, "full", s, "completed", acc, 1000) for s, acc in enumerate([0.78, 0.80, 0.82])],
        *[("a", 2.0, "full", s, "completed", acc, 4000) for s, acc in enumerate([0.89, 0.90, 0.91])],
        *[("b", 1.0, "full", s, "completed", acc, 1500) for s, acc in enumerate([0.70, 0.71, 0.72])],
        *[("b", 2.0, "full", s, "completed", acc, 6000) for s, acc in enumerate([0.75, 0.76, 0.77])],
    ])
    arms = ablation_deltas(runs)
    assert common_budgets(family_curves(arms)) == [2000.0, 3000.0]  # 1K and 5K are inside only one range
    table = equal_budget(arms, "test data")
    row = table.text.set_index("Params").loc["2K"]
    t = math.log(2000 / 1000) / math.log(4000 / 1000)   # halfway in log-params
    est, low, high, *_ = combined_interval([1 - t, t], [80.0, 90.0], [2.0, 1.0], [3, 3])
    assert row["a"] == f"{est:.2f} [{low:.2f}, {high:.2f}]ⁱ"  # interpolated, and marked so
    t_b = math.log(2000 / 1500) / math.log(6000 / 1500)
    assert row["b"].startswith(f"{(1 - t_b) * 71.0 + t_b * 76.0:.2f} [") and row["b"].endswith("ⁱ")
    assert "4 cells marked ⁱ are interpolated" in table.caption
    assert table.best.loc[0, "a"]  # 85 vs 72.0: significant after Holm over the two budgets
    narrow = fake_runs([("a", 1.0, "full", 0, "completed", 0.8, 1000), ("a", 2.0, "full", 0, "completed", 0.9, 4000)])
    assert equal_budget(ablation_deltas(narrow), "test data") is None  # one family: nothing to compare
