"""Table 2, the ablations: every arm, its difference from its ``full`` arm, and how sure the table is of it.

One row per arm (model x width x setting x variant), and below an arm with diverged runs its sensitivity row
(diverged runs at chance accuracy). Columns: accuracy over seeds, n (seeds, runs, runs not in the mean), the
divergence rate with its exact interval, Δ with Welch's interval over seeds and the bootstrap interval over
seeds and test images, p (Welch, or McNemar where an arm has one seed), the paired p on correct counts with its
pairs, the family of the test (primary or exploratory, where the runs' preset declared one), cost deltas.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from jumpnet.report.comparisons import count_note
from jumpnet.report.families import ALL, EXPLORATORY, PRIMARY
from jumpnet.report.setup import width_changes
from jumpnet.report.tables import (
    DASH,
    TEST_NAME,
    Table,
    group_columns,
    model_names,
    num,
    pm,
    printed_ties,
    seed_note,
    unit,
    width_label,
)

SENSITIVITY = "↳ diverged at chance"
BUILDS = {"no_links": "plain chain", "add": "summed"}  # a variant whose learner runs narrow: what it is
NO_PREDICTIONS = "— †"  # no per-image predictions in some run (recorded before they were kept)


def variant_label(arm: pd.Series, full_map: str | None = None) -> str:
    """The variant's name and what it builds: a matched arm the width it was built at (``add_matched (×1.64)``),
    an arm whose head sees another feature map than ``full``'s that map, and where the learner itself is narrow
    (DenseNet and SparseNet run ``add`` and ``no_links`` at the growth rate's width) what it is:
    ``no_links [plain chain, 12×8×8]``, ``add [summed, 12×8×8]``."""
    name, built = str(arm["ablation"]), arm.get("match_width_mult")
    matched = built is not None and not pd.isna(built) and not np.isclose(built, arm["width"])
    if matched:
        name += f" ({width_label(built)})"
    fmap = arm.get("feature_map")
    if full_map and isinstance(fmap, str) and fmap != full_map:
        scale = float(built) / float(arm["width"]) if matched else 1.0
        narrow = int(fmap.split(" x ")[0]) < 0.5 * int(full_map.split(" x ")[0]) * scale  # not the width alone
        word = BUILDS.get(name.split("_matched")[0].split(" ")[0]) if narrow else None
        name += f" [{word + ', ' if word else ''}{fmap.replace(' x ', '×')}]"
    return name


def p_pair(p: float, adjusted: float, family: str = ALL, test: str = "", pairs: int | None = None) -> str:
    """``raw (Holm-adjusted)`` (an exploratory test: its raw p alone), McNemar's marked, the pairs counted; a dash
    where no test was possible."""
    if np.isnan(p):
        return DASH
    text = f"{num(p, '.3f')}" + ("" if family == EXPLORATORY else f" ({num(adjusted, '.3f')})")
    return text + (" McNemar" if test == "McNemar" else "") + (f", {pairs} pairs" if pairs else "")


def ci_cell(low: float, high: float) -> str:
    return DASH if np.isnan(low) else f"[{num(low, '+.2f')}, {num(high, '+.2f')}]"


def divergence_cell(arm: pd.Series) -> str:
    """``1/3 [1%, 91%]``: runs that diverged of those that ended, with the Clopper-Pearson 95% interval."""
    ended = int(arm["n_runs"]) + int(arm["n_diverged"])
    if not ended:
        return DASH
    return f"{int(arm['n_diverged'])}/{ended} [{arm['div_low']:.0%}, {arm['div_high']:.0%}]"


def boot_cell(arm: pd.Series) -> str:
    if not np.isnan(arm["boot_low"]):
        return ci_cell(arm["boot_low"], arm["boot_high"])
    return NO_PREDICTIONS if arm["ablation"] != "full" and not np.isnan(arm["delta"]) else DASH


def ablation_rows(arms: pd.DataFrame) -> pd.DataFrame:
    """Table 2's rows as values: one per arm and, below an arm with diverged runs (or whose full arm has them),
    its sensitivity row (diverged runs counted at chance accuracy)."""
    fmap = {tuple(r[["model", "width", "setting"]]): r["feature_map"] for _, r in arms.iterrows()
            if r["ablation"] == "full"}
    rows = []
    for _, arm in arms.iterrows():
        ref_map = fmap.get(tuple(arm[["model", "width", "setting"]]))
        rows.append({**arm.to_dict(), "label": variant_label(arm, ref_map), "sensitivity": False})
        if arm["n_diverged"] or not np.isnan(arm["sens_delta"]):
            mean = arm["sens_mean"] if arm["n_diverged"] else arm["acc_mean"]
            rows.append({**arm.to_dict(), "label": SENSITIVITY, "sensitivity": True, "acc_mean": mean,
                         "acc_std": arm["sens_std"] if arm["n_diverged"] else arm["acc_std"],
                         "delta": arm["sens_delta"], "ci_low": arm["sens_low"], "ci_high": arm["sens_high"],
                         "p": arm["sens_p"], "best": False})
    return pd.DataFrame(rows).reset_index(drop=True)


def ablations(arms: pd.DataFrame, describe_data: str, primary: str = "none declared") -> Table:
    """Table 2: every arm, its accuracy and its difference from the ``full`` arm of the same model and width."""
    rows = ablation_rows(arms.reset_index(drop=True))
    sens = rows["sensitivity"]
    mdiv, mu = unit(arms["macs"])
    text = group_columns(rows, pd.DataFrame({"Model": model_names(rows),
                                             "Variant": rows["label"]}))
    text = text.assign(**{
        "Test acc. (%)": [pm(m, s) for m, s in zip(rows["acc_mean"], rows["acc_std"])],
        "n": [f"{int(r['sens_n'])} (incl. {int(r['n_diverged'])} diverged)" if r["sensitivity"] and r["n_diverged"]
              else "" if r["sensitivity"] else count_note(r) for _, r in rows.iterrows()],
    })
    if arms["n_diverged"].any():
        text["Diverged"] = ["" if r["sensitivity"] else divergence_cell(r) for _, r in rows.iterrows()]
    text = text.assign(**{
        "Δ (pp)": rows["delta"].map(lambda v: num(v, "+.2f")),
        "95% CI (seeds)": [ci_cell(lo, hi) for lo, hi in zip(rows["ci_low"], rows["ci_high"])],
        "95% CI (seeds + images)": ["" if r["sensitivity"] else boot_cell(r) for _, r in rows.iterrows()],
        "p (Holm)": [f"{num(r['p'], '.3f')} (sensitivity)" if r["sensitivity"] and not np.isnan(r["p"])
                     else p_pair(r["p"], r["p_holm"], r["family"], r["test"]) for _, r in rows.iterrows()],
        "paired p (Holm)": ["" if r["sensitivity"] else
                            p_pair(r["p_paired"], r["p_paired_holm"], r["family"], pairs=int(r["pairs"]))
                            for _, r in rows.iterrows()],
    })
    if rows["family"].isin([PRIMARY, EXPLORATORY]).any():
        text["Family"] = rows["family"].where(~sens, "")
    text = text.assign(**{
        "ΔParams (K)": (rows["d_params"] / 1e3).map(lambda v: num(v, "+,.1f")).where(~sens, ""),
        f"ΔMACs ({mu})": (rows["d_macs"] / mdiv).map(lambda v: num(v, "+.1f")).where(~sens, ""),
    })
    best = pd.DataFrame(False, index=text.index, columns=text.columns)
    best["Test acc. (%)"] = rows["best"].to_numpy(bool)
    blocks = pd.Series([f"{m}|{w}|{s}" if not sens_row else f"sensitivity {i}" for i, (m, w, s, sens_row) in
                        enumerate(zip(rows["model"], rows["width"], rows["setting"], sens))], index=text.index)
    best = printed_ties(text, best, blocks)
    text.loc[text["Model"].eq(text["Model"].shift()), "Model"] = ""  # print each model's name once per block
    return Table("ablations", text, best, ablations_caption(arms, describe_data, primary))


def ablations_caption(arms: pd.DataFrame, describe_data: str, primary: str) -> str:
    tested = arms["p"].notna()
    holm_over = arms["family"].isin([PRIMARY, ALL]) & tested
    if arms["family"].eq(PRIMARY).any() or primary != "none declared":
        others = int((arms["family"].eq(EXPLORATORY) & tested).sum())
        family = (f"Holm-adjusted over the primary family the preset was powered for ({primary}: "
                  f"{int(holm_over.sum())} tests here); the other {others} comparisons are exploratory (their raw p "
                  f"alone, no stars)")
    else:
        tests = int(holm_over.sum())
        family = (f"Holm-adjusted over the table's {tests} comparison{'s' * (tests != 1)} (no primary family "
                  f"declared)" if tests else "(no comparison here has two runs per arm)")
    changed = width_changes(arms)
    return (f"Ablations on {describe_data}. Test acc.: mean ± std over n seeds ({seed_note(arms)}); runs not in the "
            f"mean are counted beside n; a diverged arm gets a sensitivity row (diverged runs at chance). Δ: variant "
            f"minus full of the same model, width and setting (pp), with 95% intervals over seeds ({TEST_NAME}) and "
            f"over seeds and test images (bootstrap; † no per-image predictions). p: {TEST_NAME} (McNemar's with one "
            f"seed), {family}; paired p: on correct counts over shared seeds. Arms built at other widths: "
            f"{changed or 'none'} (matched: the width in brackets; [C×H×W]: the head's feature map). Bold: the "
            f"block's best, where it beats the runner-up (Holm, p < 0.05) and differs as printed.")
