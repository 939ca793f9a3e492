"""Accuracy per budget: each family's ``full`` arm through its widths, and Table 3 at equal budgets.

A family is one model (and setting) measured at several ``model.width_mult``
budgets. Table 3 reads each family's accuracy at common parameter budgets by
linear interpolation in log-params between its two neighbouring measured
budgets, never outside the measured range. The interpolated mean is a weighted
sum of two independent means, so its interval follows from theirs
(``stats.combined_interval``: variances add with the squared weights,
Welch-Satterthwaite degrees of freedom).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from jumpnet.report.stats import ALPHA, NAN, combined_interval, holm, welch_from_summary
from jumpnet.report.tables import DASH, Table, model_label, num, seed_note, unit

NICE = (1.0, 2.0, 3.0, 5.0)  # common budgets: 1, 2, 3, 5 x 10^k


def family_name(model: object, setting: str) -> str:
    return model_label(model) + (f" [{setting}]" if setting else "")


def family_curves(arms: pd.DataFrame) -> pd.DataFrame:
    """Every measured ``full`` arm, by family and increasing params, with its 95% interval (t, over seeds)."""
    full = arms[(arms["ablation"] == "full") & arms["acc_mean"].notna()].copy()
    full["family"] = [family_name(m, s) for m, s in zip(full["model"], full["setting"])]
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


def equal_budget(arms: pd.DataFrame, describe_data: str) -> Table | None:
    """Table 3: each family's test accuracy at common parameter budgets (None without two families' curves)."""
    curves = family_curves(arms)
    budgets = common_budgets(curves)
    if not budgets:
        return None
    div, suffix = unit(pd.Series(budgets))
    families = list(dict.fromkeys(curves["family"]))
    text = pd.DataFrame({"Params": [f"{b / div:g}{suffix}" for b in budgets]})
    values: dict[str, list] = {}
    for family in families:
        curve = curves[curves["family"] == family]
        values[family] = [interpolate(curve, b) for b in budgets]
        text[family] = [DASH if v is None else cell(v) for v in values[family]]
    best = pd.DataFrame(False, index=text.index, columns=text.columns)
    tests = []
    for row in range(len(budgets)):
        measured = sorted(((v[row], f) for f, v in values.items() if v[row] is not None), key=lambda e: -e[0][0])
        if len(measured) >= 2:
            (top, family), (second, _) = measured[0], measured[1]
            tests.append((row, family, welch_from_summary(top[0], top[3], top[4], second[0], second[3], second[4])))
    for (row, family, _), p in zip(tests, holm([p for *_, p in tests])):
        best.loc[row, family] = bool(p < ALPHA)
    caption = (f"Test accuracy (%) at equal parameter budgets on {describe_data}: each family's full variant, "
               f"measured at several widths (model.width_mult), interpolated linearly in log-params between the two "
               f"nearest measured budgets, never extrapolated (a dash: outside the family's measured range). "
               f"Brackets: 95% interval carried through the interpolation (variances weighted, Welch-Satterthwaite "
               f"degrees of freedom, clipped to [0, 100]; none where the runs did not vary; {seed_note(curves)}). "
               "Bold: the best family at a budget, only where it beats the runner-up (Welch's t-test on the "
               "interpolated means, Holm-adjusted over the budgets, p < 0.05).")
    return Table("equal_budget", text, best, caption)


def cell(value: tuple[float, ...]) -> str:
    """``85.12 [83.90, 86.34]``: the interval clipped to what an accuracy can be; no interval where nothing varied."""
    estimate, low, high = value[0], *np.clip(value[1:3], 0, 100)
    return num(estimate, ".2f") + ("" if np.isnan(low) else f" [{num(low, '.2f')}, {num(high, '.2f')}]")
