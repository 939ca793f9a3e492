"""Accuracy per budget: each family's ``full`` arm through its widths, and Table 3 at equal budgets.

A family is one model (and setting) measured at several ``model.width_mult``
budgets. ``experiment=budget`` trains every family at widths solved by the
matcher to common parameter budgets (``plan.budgets``), so Table 3 reads
*measured* runs there: a family's arm whose parameters lie within the matcher's
2% of a budget is its cell, with the t interval over its seeds. Only where a
family has no such arm is its cell interpolated, linearly in log-params between
its two neighbouring measured budgets (never extrapolated), and marked ⁱ: an
interpolated mean is a weighted sum of two independent means, so its interval
follows from theirs (``stats.combined_interval``: variances add with the
squared weights, Welch-Satterthwaite degrees of freedom), but it assumes the
line between them is exact, which a curved accuracy-vs-log-params relation is
not. Sweeps that declare no budgets get rows at 1, 2, 3, 5 x 10^k.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from jumpnet.models.matching import TOLERANCE
from jumpnet.report.families import EXPLORATORY, ranking_family
from jumpnet.report.stats import ALPHA, NAN, combined_interval, holm, welch_from_summary
from jumpnet.report.tables import DASH, Table, model_names, num, seed_note, unit

NICE = (1.0, 2.0, 3.0, 5.0)  # common budgets: 1, 2, 3, 5 x 10^k
INTERPOLATED = "ⁱ"


def family_name(name: object, setting: str) -> str:
    """A family as figures and Table 3 name it: its display name and, where runs differ in a setting, its short
    key (``S1``: the README's settings table says what it stands for)."""
    return str(name) + (f" {setting}" if setting else "")


def setting_keys(arms: pd.DataFrame) -> pd.Series:
    """Each arm's short setting key (``collect``), or its setting where a frame has no keys."""
    return arms["setting_key"] if "setting_key" in arms else arms["setting"]


def family_curves(arms: pd.DataFrame) -> pd.DataFrame:
    """Every measured ``full`` arm, by family and increasing params, with its 95% interval (t, over seeds)."""
    full = arms[(arms["ablation"] == "full") & arms["acc_mean"].notna()].copy()
    full["family"] = [family_name(m, s) for m, s in zip(model_names(full), setting_keys(full))]
    bounds = [combined_interval([1.0], [m], [s], [n])[1:3] for m, s, n in
              zip(full["acc_mean"], full["acc_std"].fillna(NAN), full["n"])]
    full["acc_low"] = np.clip([b[0] for b in bounds], 0, 100)  # an accuracy, whatever t says with two seeds
    full["acc_high"] = np.clip([b[1] for b in bounds], 0, 100)
    return full.sort_values(["model", "setting", "params"]).reset_index(drop=True)


def common_budgets(curves: pd.DataFrame, cost: str = "params") -> list[float]:
    """1, 2, 3, 5 x 10^k inside the measured range of at least two families (with two budgets or more each)."""
    ranges = [(g[cost].min(), g[cost].max()) for _, g in curves.groupby("family", sort=False) if len(g) > 1]
    if len(ranges) < 2:
        return []
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    candidates = [f * 10.0 ** k for k in range(int(math.floor(math.log10(low))), int(math.ceil(math.log10(high))) + 1)
                  for f in NICE]
    return [b for b in candidates if sum(lo <= b <= hi for lo, hi in ranges) >= 2]


def measured_at(curve: pd.DataFrame, budget: float, cost: str = "params") -> pd.Series | None:
    """The family's arm built at ``budget`` (its cost within the matcher's tolerance), or None."""
    near = (curve[cost] / budget - 1).abs()
    return curve.loc[near.idxmin()] if len(curve) and near.min() <= TOLERANCE else None


def interpolate(curve: pd.DataFrame, budget: float, cost: str = "params") -> tuple[float, ...] | None:
    """(estimate, low, high, standard error, df) of one family at ``budget``, or None outside its measured range."""
    x = np.log(curve[cost].to_numpy(float))
    target = math.log(budget)
    if len(curve) < 2 or not x.min() <= target <= x.max():
        return None
    j = int(min(np.searchsorted(x, target, side="left"), len(x) - 1))
    i = max(j - 1, 0)
    t = 0.0 if x[j] == x[i] else (target - x[i]) / (x[j] - x[i])
    rows = curve.iloc[[i, j]]
    return combined_interval([1 - t, t], list(rows["acc_mean"]), list(rows["acc_std"].fillna(NAN)), list(rows["n"]))


def at_budget(curve: pd.DataFrame, budget: float) -> tuple[tuple[float, ...] | None, bool]:
    """A family's cell at ``budget``: its measured arm there (estimate, interval, se, df over its seeds), else the
    interpolation; and whether it was interpolated."""
    arm = measured_at(curve, budget)
    if arm is not None:
        return combined_interval([1.0], [arm["acc_mean"]], [arm["acc_std"] if pd.notna(arm["acc_std"]) else NAN],
                                 [int(arm["n"])]), False
    return interpolate(curve, budget), True


def table_budgets(curves: pd.DataFrame, declared: list[float]) -> list[float]:
    """The declared budgets (``plan.budgets``) inside two or more families' measured ranges; where none is (the
    runs were not made at them), the common ones."""
    ranges = [(g["params"].min() * (1 - TOLERANCE), g["params"].max() * (1 + TOLERANCE))
              for _, g in curves.groupby("family", sort=False)]
    inside = [b for b in declared if sum(lo <= b <= hi for lo, hi in ranges) >= 2]
    return inside or common_budgets(curves)


def equal_budget(arms: pd.DataFrame, describe_data: str, budgets: list[float] | None = None,
                 primary: list[str] | None = None) -> Table | None:
    """Table 3: each family's test accuracy at common parameter budgets (None without two families' curves)."""
    curves = family_curves(arms)
    budgets = table_budgets(curves, list(budgets or []))
    if not budgets:
        return None
    div, suffix = unit(pd.Series(budgets))
    families = list(dict.fromkeys(curves["family"]))
    text = pd.DataFrame({"Params": [f"{b / div:g}{suffix}" for b in budgets]})
    values: dict[str, list] = {}
    interpolated = 0
    for family in families:
        cells = [at_budget(curves[curves["family"] == family], b) for b in budgets]
        values[family] = [v for v, _ in cells]
        text[family] = [DASH if v is None else cell(v) + (INTERPOLATED if guessed else "") for v, guessed in cells]
        interpolated += sum(v is not None and guessed for v, guessed in cells)
    best = pd.DataFrame(False, index=text.index, columns=text.columns)
    tests = []
    for row in range(len(budgets)):
        measured = sorted(((v[row], f) for f, v in values.items() if v[row] is not None), key=lambda e: -e[0][0])
        if len(measured) >= 2 and num(measured[0][0][0], ".2f") != num(measured[1][0][0], ".2f"):  # as printed
            (top, family), (second, _) = measured[0], measured[1]
            tests.append((row, family, welch_from_summary(top[0], top[3], top[4], second[0], second[3], second[4])))
    family_kind = ranking_family(list(primary or []))
    for (row, family, _), p in zip(tests, holm([p for *_, p in tests])):
        best.loc[row, family] = bool(p < ALPHA) and family_kind != EXPLORATORY
    plural = interpolated != 1
    how = (f"{interpolated} cell{'s' * plural} marked {INTERPOLATED} {'are' if plural else 'is'} interpolated linearly "
           f"in log-params between the family's two nearest measured budgets (never extrapolated; the interval "
           f"carried through, variances weighted, Welch-Satterthwaite degrees of freedom; it assumes the line "
           f"between the two is exact)" if interpolated else "no cell is interpolated")
    claim = ("Bold: the best family at a budget, only where it beats the runner-up (Welch's t-test, Holm-adjusted "
             f"over the {len(tests)} budgets{': the primary family' if family_kind != 'all' else ''}, p < 0.05)."
             if family_kind != EXPLORATORY else
             "The ranking is exploratory here (not in the runs' declared primary family): no bold.")
    caption = (f"Test accuracy (%) at equal parameter budgets on {describe_data}: each family's full variant, "
               f"measured at widths (model.width_mult) solved to each budget within {TOLERANCE:.0%} where it was "
               f"trained there; {how}. A dash: outside the family's measured range. Brackets: 95% t interval over "
               f"seeds (clipped to [0, 100]; none where the runs did not vary; {seed_note(curves)}). " + claim)
    return Table("equal_budget", text, best, caption)


def cell(value: tuple[float, ...]) -> str:
    """``85.12 [83.90, 86.34]``: the interval clipped to what an accuracy can be; no interval where nothing varied."""
    estimate, low, high = value[0], *np.clip(value[1:3], 0, 100)
    return num(estimate, ".2f") + ("" if np.isnan(low) else f" [{num(low, '.2f')}, {num(high, '.2f')}]")
