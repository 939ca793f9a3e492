"""Per-arm summaries over seeds and each variant's difference from its model's ``full`` arm.

Accuracies come out in percent and differences in percentage points, the units
the tables print. The test is Welch's unequal-variance t-test (scipy): seeds of
different architectures give different initializations, so arms are treated as
independent samples rather than paired by seed.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

ARM = ["model", "setting", "ablation"]
TEST_NAME = "Welch's t-test"


def summarize(completed: pd.DataFrame) -> pd.DataFrame:
    """One row per model x setting x variant: accuracy mean/std/n over seeds, and the arm's cost."""
    runs = completed.assign(acc=completed["test_acc"] * 100.0)
    summary = runs.groupby(ARM, observed=True, sort=True).agg(
        acc_mean=("acc", "mean"), acc_std=("acc", "std"), n=("acc", "size"),
        seeds=("seed", lambda s: ", ".join(str(v) for v in sorted(s))),
        params=("params", "median"), macs=("macs", "median"), flops=("flops", "median"),
        size_mb=("size_mb", "median"), feature_map=("feature_map", "first"),
        train_time_s=("train_time_s", "mean"), epochs=("epochs", "median"),
    )
    return summary.reset_index()


def welch(variant: np.ndarray, full: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Difference of means (variant - full), its CI and the two-sided p-value; NaN where n < 2 in an arm."""
    diff = float(np.mean(variant) - np.mean(full)) if len(variant) and len(full) else np.nan
    if len(variant) < 2 or len(full) < 2:
        return diff, np.nan, np.nan, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero variance in both arms: no test possible
        result = stats.ttest_ind(variant, full, equal_var=False)
        low, high = result.confidence_interval(level)
    return diff, float(low), float(high), float(result.pvalue)


def ablation_deltas(completed: pd.DataFrame) -> pd.DataFrame:
    """Every arm with its accuracy, and its difference from the same model's ``full`` arm (same setting)."""
    summary = summarize(completed)
    acc = completed.assign(acc=completed["test_acc"] * 100.0)
    rows = []
    for arm in summary.itertuples(index=False):
        same = (acc["model"] == arm.model) & (acc["setting"] == arm.setting)
        full = acc.loc[same & (acc["ablation"] == "full"), "acc"].to_numpy()
        mine = acc.loc[same & (acc["ablation"] == arm.ablation), "acc"].to_numpy()
        ref = summary[(summary["model"] == arm.model) & (summary["setting"] == arm.setting)
                      & (summary["ablation"] == "full")]
        has_ref = len(full) > 0 and arm.ablation != "full"
        diff, low, high, p = welch(mine, full) if has_ref else (np.nan,) * 4
        rows.append({
            "delta": diff, "ci_low": low, "ci_high": high, "p": p,
            "d_params": arm.params - ref["params"].iloc[0] if has_ref else np.nan,
            "d_macs": arm.macs - ref["macs"].iloc[0] if has_ref else np.nan,
        })
    return pd.concat([summary, pd.DataFrame(rows, index=summary.index)], axis=1)
