"""The paper's tables 1 and 2, as Markdown (README, GitHub) and LaTeX (booktabs) from the same frames.

Each table is a numeric frame (what is compared, bolded, tested) plus a text
frame (what is printed); pandas writes both outputs so the two never disagree.
Captions state the data, splits and recipe (``setup``), which tests form the
primary family and what Holm's adjustment ran over (``families``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jumpnet.config.choices import STUDY_MODELS
from jumpnet.report.comparisons import count_note
from jumpnet.report.families import ALL, EXPLORATORY, PRIMARY
from jumpnet.report.setup import describe_data, width_changes

__all__ = ["Table", "ablations", "architectures", "describe_data"]

TEST_NAME = "Welch's t-test"
SENSITIVITY = "↳ diverged at chance"
NO_PREDICTIONS = "— †"  # no per-image predictions in some run (recorded before they were kept)
# pdflatex-safe spellings of the few non-ASCII characters the tables use.
LATEX_TEXT = {"±": r"$\pm$", "×": r"$\times$", "Δ": r"$\Delta$", "—": "---", "–": "--", "−": "$-$", "≥": r"$\geq$",
              "↳": r"$\hookrightarrow$", "†": r"$\dagger$", "ⁱ": r"$^{i}$"}
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
DASH = "—"
TEXT_COLUMNS = ("Model", "Setting", "Variant")


@dataclass
class Table:
    """A printed table: ``text`` is what is shown, ``best`` marks the cells set in bold."""

    name: str
    text: pd.DataFrame
    best: pd.DataFrame
    caption: str

    def markdown(self) -> str:
        bold = self.text.mask(self.best, "**" + self.text + "**")
        return bold.to_markdown(index=False, tablefmt="github", disable_numparse=True)  # "26.20" stays "26.20"

    def latex(self) -> str:
        styler = self.text.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
        styler = styler.apply(lambda _: self.best.replace({True: "font-weight: bold;", False: ""}), axis=None)
        tex = styler.to_latex(hrules=True, convert_css=True, caption=latex_escape(self.caption),
                              label=f"tab:{self.name}", position="t", position_float="centering", environment="table*",
                              column_format="".join("l" if c in TEXT_COLUMNS else "r" for c in self.text.columns))
        for char, spelling in LATEX_TEXT.items():
            tex = tex.replace(char, spelling)
        return tex.replace("\\centering\n", "\\centering\n\\small\n", 1)  # fits a two-column page's width

    def write(self, out: Path) -> None:
        (out / f"table_{self.name}.md").write_text(f"{self.markdown()}\n\n{self.caption}\n")
        (out / f"table_{self.name}.tex").write_text(self.latex())


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in free text (captions); Styler escapes the cells."""
    return "".join(LATEX_SPECIAL.get(c, c) for c in text)


def model_label(name: object) -> str:
    return STUDY_MODELS.get(str(name), str(name))


def pm(mean: float, std: float) -> str:
    """``mean ± std``; a single seed has no spread, so only its value."""
    return DASH if np.isnan(mean) else f"{mean:.2f}" if np.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def num(value: float, fmt: str) -> str:
    return DASH if value is None or np.isnan(value) else format(value, fmt).replace("-", "−")  # a real minus sign


def extremes(frame: pd.DataFrame, direction: dict[str, str], groups: pd.Series | None = None) -> pd.DataFrame:
    """Cells holding the best value of their column (``max``/``min``), within ``groups`` when given."""
    best = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    keys = groups if groups is not None else pd.Series(0, index=frame.index)
    for col, how in direction.items():
        values = frame[col].astype(float)
        target = values.groupby(keys).transform(how)
        many = values.groupby(keys).transform("count") > 1
        best[col] = np.isclose(values, target) & many
    return best


def unit(values: pd.Series) -> tuple[float, str]:
    """Millions, or thousands when every model is under a million (tiny test models), so digits carry meaning."""
    return (1e6, "M") if values.abs().max() >= 1e6 else (1e3, "K")


def width_label(width: float) -> str:
    return f"×{width:g}"


def group_columns(arms: pd.DataFrame, text: pd.DataFrame, at: int = 1) -> pd.DataFrame:
    """Insert Width and Setting columns after ``at`` where the runs differ in them."""
    if arms["width"].nunique() > 1 or (arms["width"] != 1.0).any():
        text.insert(at, "Width", arms["width"].map(width_label).to_numpy())
        at += 1
    if (arms["setting"] != "").any():
        text.insert(at, "Setting", arms["setting"].to_numpy())
    return text


def variant_label(arm: pd.Series, full_map: str | None = None) -> str:
    """The variant's name and what it builds: a matched arm the width it was built at (``add_matched (×1.64)``),
    an arm whose head sees another feature map than ``full``'s that map (``no_links [12×8×8]``: DenseNet and
    SparseNet run ``add`` and ``no_links`` at the growth rate's width, ``no_links`` a plain chain of layers)."""
    name, built = str(arm["ablation"]), arm.get("match_width_mult")
    if built is not None and not pd.isna(built) and not np.isclose(built, arm["width"]):
        name += f" ({width_label(built)})"
    fmap = arm.get("feature_map")
    if full_map and isinstance(fmap, str) and fmap != full_map:
        name += f" [{fmap.replace(' x ', '×')}]"
    return name


def p_pair(p: float, adjusted: float, family: str = ALL, test: str = "", pairs: int | None = None) -> str:
    """``raw (Holm-adjusted)`` (an exploratory test: its raw p alone), McNemar's marked, the pairs counted; a dash
    where no test was possible."""
    if np.isnan(p):
        return DASH
    text = f"{num(p, '.3f')}" + ("" if family == EXPLORATORY else f" ({num(adjusted, '.3f')})")
    return text + (" McNemar" if test == "McNemar" else "") + (f", {pairs} pairs" if pairs else "")


def unique_extremes(numeric: pd.DataFrame, direction: dict[str, str], groups: pd.Series) -> pd.DataFrame:
    """Exact costs (params, MACs, size): bold only a strictly best value of its group (one width), never a tie."""
    best = extremes(numeric, direction, groups)
    return best & best.groupby(groups.to_numpy()).transform("sum").eq(1).to_numpy()


def width_groups(arms: pd.DataFrame) -> pd.Series:
    """One key per width and setting: bold compares within one, never across pooled widths."""
    return arms["width"].astype(str) + "|" + arms["setting"].astype(str)


def architectures(arms: pd.DataFrame, describe_data: str) -> Table:
    """Table 1: one row per model's ``full`` arm (per width): cost, shape before pooling, accuracy, training time."""
    full = arms[arms["ablation"] == "full"].reset_index(drop=True)
    minutes = full["train_time_s"].median() >= 120
    time_col = f"Train time ({'min' if minutes else 's'})"
    (pdiv, pu), (mdiv, mu) = unit(arms["params"]), unit(arms["macs"])
    params, macs = f"Params ({pu})", f"MACs ({mu})"
    numeric = pd.DataFrame({params: full["params"] / pdiv, macs: full["macs"] / mdiv, "Size (MiB)": full["size_mb"]})
    text = group_columns(full, pd.DataFrame({"Model": full["model"].astype(str).map(model_label)}))
    text = text.assign(**{
        params: numeric[params].map(lambda v: num(v, ".3f" if pu == "M" else ".1f")),
        macs: numeric[macs].map(lambda v: num(v, ".1f")),
        "C×H×W": full["feature_map"].fillna(DASH).str.replace(" x ", "×"),
        "Size (MiB)": numeric["Size (MiB)"].map(lambda v: num(v, ".2f")),
        "Test acc. (%)": [pm(m, s) for m, s in zip(full["acc_mean"], full["acc_std"])],
        "n": full.apply(count_note, axis=1),
        time_col: (full["train_time_s"] / (60 if minutes else 1)).map(lambda v: num(v, ".1f")),
    })
    best = unique_extremes(numeric, {params: "min", macs: "min", "Size (MiB)": "min"}, width_groups(full))
    best["Test acc. (%)"] = full["best_overall"].to_numpy(bool)
    best = best.reindex(columns=text.columns, fill_value=False)
    caption = (f"Architectures (full variants) on {describe_data}. Test accuracy: mean ± std over n seeds "
               f"({seed_note(full)}); n counts the seeds (runs of a seed repeated are averaged), and runs that "
               f"diverged, failed or never finished are counted beside it. MACs: multiply-adds per image forward; "
               f"C×H×W: the feature map entering global pooling; size: fp32 weights; train time: mean per run. "
               f"Width: model.width_mult. Bold, within one width only: the lowest cost; the best accuracy only "
               f"where {TEST_NAME} finds it above the runner-up's (p < 0.05, Holm-adjusted over the widths; "
               f"exploratory).")
    return Table("architectures", text, best, caption)


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
    text = group_columns(rows, pd.DataFrame({"Model": rows["model"].astype(str).map(model_label),
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
        family = (f"Holm-adjusted over the table's {int(holm_over.sum())} comparisons (no primary family declared)"
                  if holm_over.any() else "(no comparison here has two runs per arm)")
    changed = width_changes(arms)
    return (f"Ablations on {describe_data}. Test accuracy: mean ± std over n seeds ({seed_note(arms)}); n counts "
            f"the seeds (runs of a seed repeated are averaged: n (k runs)), and runs that diverged, failed or never "
            f"finished are counted beside it; Diverged: diverged runs of those that ended, with its 95% "
            f"Clopper-Pearson interval, and below such an arm a sensitivity row that counts diverged runs at "
            f"chance accuracy. Δ: variant minus the full variant of the same model, width and data. 95% CI (seeds): "
            f"{TEST_NAME} across seeds (unequal variances), clipped to ±100; 95% CI (seeds + images): a bootstrap "
            f"over seeds and test images (the test set's sampling included; † where a run kept no per-image "
            f"predictions). p: two-sided, {TEST_NAME} (McNemar's exact test on the test images where an arm has "
            f"one seed), {family}. Paired p: a paired t-test on correct-image counts over the seeds both arms "
            f"completed (same split and batch order), with the number of pairs, adjusted in the same family. "
            f"A dash: no test (n < 2, or no variance in either arm). Arms that change widths: "
            f"{changed or 'none'} (matched variants: built at the width in brackets, solved to the full variant's "
            f"budget within 2%; [C×H×W]: the head sees another feature map than full's: DenseNet and SparseNet "
            f"run add and no_links at the growth rate's width, no_links as a plain chain of layers). ΔParams, "
            f"ΔMACs: change vs full. Bold: the most accurate variant of a block, only where it beats the runner-up "
            f"({TEST_NAME}, Holm-adjusted over the blocks, p < 0.05; exploratory).")


def seed_note(arms: pd.DataFrame) -> str:
    """``seeds 0, 1`` when every arm used the same seeds, else the range of n."""
    seeds = arms["seeds"].unique()
    if len(seeds) == 1:
        return f"n = {arms['n'].iloc[0]}; seeds {seeds[0]}"
    return f"n = {arms['n'].min()}–{arms['n'].max()} per arm"
