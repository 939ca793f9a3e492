"""Per-arm summaries over seeds, each variant's difference from its ``full`` arm, and the bold rule.

An arm is one model x width x setting x variant (the setting includes the data: an arm never mixes data). Its
unit is the seed (``units``): repeated runs of a seed are averaged into one, never cut. Every run found counts:
completed ones give the accuracy; diverged ones are part of the result (the arm's divergence rate with its
Clopper-Pearson interval, and a sensitivity analysis that counts them at chance accuracy); failed and
unfinished ones are counted beside n. A variant is compared with the ``full`` arm of the same model, width and
setting: Welch's test over seeds (McNemar's on the test images where an arm has one seed), the paired test over
shared seeds on integer correct counts, and the bootstrap over seeds and test images where every run kept its
predictions. Holm's adjustment runs over the primary family (``families``), or over every comparison when
the runs' preset declared none.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from jumpnet.report import bootstrap
from jumpnet.report.collect import LABELS
from jumpnet.report.families import ALL, PRIMARY, comparison_families
from jumpnet.report.stats import ALPHA, NAN, Comparison, clopper_pearson, compare, holm, mcnemar
from jumpnet.report.units import PerImage, Unit, accuracies, arm_units, counts, same_images, seed_units

GROUP = ["model", "width", "setting"]     # what a variant is compared within
ARM = [*GROUP, "ablation"]
NOT_RUN = ("diverged", "failed", "unfinished")
COSTS = ("params", "macs", "flops", "size_mb", "epochs", "match_width_mult", "match_ratio")


def summarize(runs: pd.DataFrame, units: dict[tuple, Unit], at_chance: dict[tuple, Unit]) -> pd.DataFrame:
    """One row per arm: accuracy over its seeds, the runs that are not in it, divergence, and its cost."""
    rows = []
    for key, arm in runs.groupby(ARM, observed=True, sort=True):
        done = arm[arm["status"] == "completed"]
        mine = arm_units(units, key)
        acc = np.array([u.acc for u in mine.values()])
        costed = done if done["params"].notna().any() else arm
        status = arm["status"].where(arm["status"].isin(["completed", "diverged", "failed"]), "unfinished")
        diverged, ended = int((status == "diverged").sum()), int(status.isin(["completed", "diverged"]).sum())
        sens = np.array([u.acc for u in arm_units(at_chance, key).values()]) if diverged else np.array([])
        rows.append({
            **dict(zip(ARM, key)), **{c: arm[c].iloc[0] for c in LABELS if c in arm},
            "acc_mean": acc.mean() if len(acc) else np.nan,
            "acc_std": acc.std(ddof=1) if len(acc) > 1 else np.nan, "n": len(acc), "n_runs": len(done),
            **{f"n_{s}": int((status == s).sum()) for s in NOT_RUN},
            "div_rate": diverged / ended if ended else np.nan,
            **dict(zip(("div_low", "div_high"), clopper_pearson(diverged, ended))),
            "sens_mean": sens.mean() if len(sens) else np.nan, "sens_n": len(sens),
            "sens_std": sens.std(ddof=1) if len(sens) > 1 else np.nan,
            "n_pred": sum(u.per_image is not None for u in mine.values()),
            "seeds": ", ".join(str(s) for s in sorted(mine)),
            "seed_acc": {s: u.acc for s, u in sorted(mine.items())},  # the seed points figures show
            **{c: pd.to_numeric(costed[c], errors="coerce").median() if c in costed else np.nan for c in COSTS},
            "train_time_s": pd.to_numeric(done.get("train_time_s"), errors="coerce").mean() if len(done) else np.nan,
            "feature_map": costed["feature_map"].dropna().iloc[0] if costed["feature_map"].notna().any() else None,
        })
    summary = pd.DataFrame(rows, columns=None if rows else [*ARM, "acc_mean", "n"])
    for column in ("model", "ablation", "setting"):  # keep the study's order (settings: S1, S2, ...)
        if isinstance(runs[column].dtype, pd.CategoricalDtype):
            summary[column] = pd.Categorical(summary[column], categories=runs[column].cat.categories, ordered=True)
    return summary


def single_network_test(mine: dict[int, Unit], full: dict[int, Unit]) -> float:
    """McNemar's exact test where an arm has one seed: that run against the other arm's run of the same seed, on
    the test images both saw (NaN without such a pair of single runs with predictions)."""
    for seed in sorted(set(mine) & set(full)):
        a, b = mine[seed], full[seed]
        if len(a.runs) == len(b.runs) == 1 and same_images({0: a}, {0: b}):
            return mcnemar(a.per_image.astype(bool), b.per_image.astype(bool))[0]
    return NAN


def compare_arms(mine: dict[int, Unit], full: dict[int, Unit]) -> dict:
    """Every statistic of one variant against its ``full`` arm (percentage points)."""
    cmp = compare(accuracies(mine), accuracies(full), counts=counts(mine, full)) if mine and full else Comparison()
    out = {"delta": cmp.diff, "ci_low": max(cmp.low, -100.0), "ci_high": min(cmp.high, 100.0), "p": cmp.p,
           "test": "Welch" if not np.isnan(cmp.p) else "", "p_paired": cmp.p_paired, "pairs": cmp.n_pairs,
           "boot_low": NAN, "boot_high": NAN}
    if np.isnan(cmp.p) and (len(mine) == 1 or len(full) == 1):
        out["p"] = single_network_test(mine, full)
        out["test"] = "McNemar" if not np.isnan(out["p"]) else ""
    if mine and full and same_images(mine, full):
        interval = bootstrap.difference([u.per_image for u in mine.values()], [u.per_image for u in full.values()])
        out.update(boot_low=interval.low, boot_high=interval.high)
    return out


def ablation_deltas(runs: pd.DataFrame, primary: list[str] | None = None,
                    per_image: PerImage | None = None) -> pd.DataFrame:
    """Every arm, and each variant's difference from the ``full`` arm of the same model, width and setting.

    Columns added: ``delta``, ``ci_low``/``ci_high`` (Welch, 95%), ``p`` (Welch, or McNemar where an arm has one
    seed: ``test``), ``p_paired`` (``pairs`` shared seeds, on correct counts), ``boot_low``/``boot_high`` (seeds
    and test images), ``family`` (primary, exploratory, all) and ``p_holm``/``p_paired_holm`` (Holm over the
    primary family, or over all when none is declared; NaN for exploratory tests), ``sens_delta``/``sens_p``
    (diverged runs at chance), ``d_params``, ``d_macs``, ``best``: the arm is its group's most accurate and
    significantly better than the runner-up after adjustment, and ``best_overall``: the same among the ``full``
    arms of one width and setting (Table 1).
    """
    units, at_chance = seed_units(runs, per_image), seed_units(runs, per_image, at_chance=True)
    summary = summarize(runs, units, at_chance)
    results = []
    for arm in summary.itertuples(index=False):
        key = tuple(getattr(arm, c) for c in ARM)
        ref_key = (*key[:-1], "full")
        ref = summary[np.logical_and.reduce([summary[c] == v for c, v in zip(ARM, ref_key)])]
        has_ref = arm.ablation != "full" and len(ref) == 1
        row = compare_arms(arm_units(units, key), arm_units(units, ref_key)) if has_ref else compare_arms({}, {})
        any_diverged = has_ref and (arm.n_diverged or ref["n_diverged"].iloc[0])
        sens = compare(accuracies(arm_units(at_chance, key)), accuracies(arm_units(at_chance, ref_key))) \
            if any_diverged else Comparison()
        mine, ref_units = arm_units(units, key), arm_units(units, ref_key)
        paired = {s: mine[s].acc - ref_units[s].acc for s in sorted(set(mine) & set(ref_units))} if has_ref else {}
        results.append({**row, "seed_delta": paired, "sens_delta": sens.diff, "sens_low": max(sens.low, -100.0),
                        "sens_high": min(sens.high, 100.0),
                        "sens_p": sens.p,
                        "d_params": arm.params - ref["params"].iloc[0] if has_ref else np.nan,
                        "d_macs": arm.macs - ref["macs"].iloc[0] if has_ref else np.nan})
    arms = pd.concat([summary, pd.DataFrame(results, index=summary.index)], axis=1)
    arms["family"] = comparison_families(arms, list(primary or []))
    for column in ("p", "p_paired"):
        adjusted = pd.Series(np.nan, index=arms.index)
        for family in (PRIMARY, ALL):
            members = arms["family"] == family
            adjusted[members] = holm(arms.loc[members, column].to_numpy(float))
        arms[f"{column}_holm"] = adjusted
    arms["best"] = significant_best(arms, units, GROUP)
    full = arms["ablation"] == "full"
    arms["best_overall"] = significant_best(arms[full], units, ["width", "setting"]).reindex(arms.index,
                                                                                            fill_value=False)
    return arms


def significant_best(arms: pd.DataFrame, units: dict[tuple, Unit], group: list[str]) -> pd.Series:
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
        seeds = [accuracies(arm_units(units, tuple(arms.loc[i, c] for c in ARM))) for i in (top, second)]
        tests.append((top, compare(*seeds).p))
    adjusted = holm([p for _, p in tests])
    for (index, _), p in zip(tests, adjusted):
        best[index] = bool(p < ALPHA)
    return best


def count_note(arm: pd.Series) -> str:
    """``3`` or ``2, 1 diverged``: the seeds in the mean, then every run that is not in it; ``3 (6 runs)`` where
    seeds were run more than once (their runs averaged)."""
    runs = int(arm.get("n_runs", arm["n"]) or 0)
    seeds = f"{int(arm['n'])}" + (f" ({runs} runs)" if runs > int(arm["n"]) else "")
    extra = [f"{int(arm[f'n_{s}'])} {s}" for s in NOT_RUN if arm.get(f"n_{s}", 0)]
    return ", ".join([seeds, *extra])
