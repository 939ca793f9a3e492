"""Per-arm summaries over seeds, each variant's difference from its ``full`` arm, and the bold rule.

An arm is one model x width x setting x variant. Every run found counts: the
completed ones give the accuracy, the others (diverged, failed, unfinished) are
counted beside it, so an arm that lost seeds says so. A variant is compared
with the ``full`` arm of the same model at the same ``model.width_mult`` and
setting; the p-values of all those comparisons form one family, adjusted by
Holm's method (``stats.holm``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from jumpnet.report.stats import ALPHA, Comparison, compare, holm

GROUP = ["model", "width", "setting"]     # what a variant is compared within
ARM = [*GROUP, "ablation"]
NOT_RUN = ("diverged", "failed", "unfinished")


def _by_seed(runs: pd.DataFrame) -> dict[int, float]:
    return dict(zip(runs["seed"].astype(int), runs["test_acc"].astype(float) * 100.0))


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: accuracy mean/std/n over completed seeds, counts of the other runs, and its cost."""
    rows = []
    for key, arm in runs.groupby(ARM, observed=True, sort=True):
        done = arm[arm["status"] == "completed"]
        acc = done["test_acc"].astype(float) * 100.0
        costed = done if done["params"].notna().any() else arm
        status = arm["status"].where(arm["status"].isin(["completed", "diverged", "failed"]), "unfinished")
        rows.append({
            **dict(zip(ARM, key)), "acc_mean": acc.mean() if len(acc) else np.nan,
            "acc_std": acc.std() if len(acc) > 1 else np.nan, "n": len(acc),
            **{f"n_{s}": int((status == s).sum()) for s in NOT_RUN},
            "seeds": ", ".join(str(int(s)) for s in sorted(done["seed"])),
            **{c: pd.to_numeric(costed[c], errors="coerce").median() if c in costed else np.nan
               for c in ("params", "macs", "flops", "size_mb", "epochs", "match_width_mult", "match_ratio")},
            "train_time_s": pd.to_numeric(done.get("train_time_s"), errors="coerce").mean() if len(done) else np.nan,
            "feature_map": costed["feature_map"].dropna().iloc[0] if costed["feature_map"].notna().any() else None,
        })
    summary = pd.DataFrame(rows, columns=None if rows else [*ARM, "acc_mean", "n"])
    for column in ("model", "ablation"):  # keep the study's order
        summary[column] = pd.Categorical(summary[column], categories=runs[column].cat.categories, ordered=True)
    return summary


def ablation_deltas(runs: pd.DataFrame) -> pd.DataFrame:
    """Every arm, and each variant's difference from the ``full`` arm of the same model, width and setting.

    Columns added: ``delta``, ``ci_low``/``ci_high`` (Welch, 95%), ``p`` and ``p_holm``, ``p_paired`` and
    ``p_paired_holm`` (seeds both arms completed, ``pairs`` of them), ``d_params``, ``d_macs``, ``best``: the
    arm is its group's most accurate and significantly better than the runner-up after adjustment, and
    ``best_overall``: the same among all ``full`` arms (Table 1).
    """
    summary = summarize(runs)
    done = runs[runs["status"] == "completed"]
    results = []
    for arm in summary.itertuples(index=False):
        same = np.logical_and.reduce([done[c] == getattr(arm, c) for c in GROUP])
        full, mine = done[same & (done["ablation"] == "full")], done[same & (done["ablation"] == arm.ablation)]
        ref = summary[np.logical_and.reduce([summary[c] == getattr(arm, c) for c in GROUP])
                      & (summary["ablation"] == "full")]
        has_ref = arm.ablation != "full" and len(ref) == 1
        cmp = compare(_by_seed(mine), _by_seed(full)) if has_ref and len(full) and len(mine) else Comparison()
        results.append({  # an accuracy difference lies in [-100, 100] pp, whatever t says with two seeds
            "delta": cmp.diff, "ci_low": max(cmp.low, -100.0), "ci_high": min(cmp.high, 100.0),
            "p": cmp.p, "p_paired": cmp.p_paired, "pairs": cmp.n_pairs,
            "d_params": arm.params - ref["params"].iloc[0] if has_ref else np.nan,
            "d_macs": arm.macs - ref["macs"].iloc[0] if has_ref else np.nan,
        })
    arms = pd.concat([summary, pd.DataFrame(results, index=summary.index)], axis=1)
    arms["p_holm"] = holm(arms["p"].to_numpy(float))
    arms["p_paired_holm"] = holm(arms["p_paired"].to_numpy(float))
    arms["best"] = significant_best(arms, done, GROUP)
    full = arms["ablation"] == "full"
    arms["best_overall"] = significant_best(arms[full], done, []).reindex(arms.index, fill_value=False)
    return arms


def significant_best(arms: pd.DataFrame, done: pd.DataFrame, group: list[str]) -> pd.Series:
    """True for the most accurate arm of each group when Welch's test says it beats the runner-up (Holm-adjusted).

    One comparison per group with at least two measured arms; the family is all groups of the table.
    """
    best = pd.Series(False, index=arms.index)
    tests: list[tuple[int, float]] = []
    measured = arms[arms["acc_mean"].notna()]
    for _, rows in measured.groupby(group, observed=True, sort=False) if group else [(None, measured)]:
        if len(rows) < 2:
            continue
        top, second = rows.sort_values("acc_mean", ascending=False).index[:2]

        def accuracies(i: int) -> dict[int, float]:
            r = arms.loc[i]
            return _by_seed(done[np.logical_and.reduce([done[c] == r[c] for c in [*GROUP, "ablation"]])])

        tests.append((top, compare(accuracies(top), accuracies(second)).p))
    adjusted = holm([p for _, p in tests])
    for (index, _), p in zip(tests, adjusted):
        best[index] = bool(p < ALPHA)
    return best


def count_note(arm: pd.Series) -> str:
    """``3`` or ``2, 1 diverged``: the runs in the mean, then every run that is not in it."""
    extra = [f"{int(arm[f'n_{s}'])} {s}" for s in NOT_RUN if arm.get(f"n_{s}", 0)]
    return ", ".join([str(int(arm["n"])), *extra])
