"""The paper's two tables, as Markdown (README, GitHub) and LaTeX (booktabs) from the same frames.

Each table is a numeric frame (what is compared, bolded, tested) plus a text
frame (what is printed); pandas writes both outputs so the two never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jumpnet.config.choices import STUDY_MODELS
from jumpnet.report.comparisons import count_note

TEST_NAME = "Welch's t-test"

DATA_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "synthetic": "synthetic data"}
# pdflatex-safe spellings of the few non-ASCII characters the tables use.
LATEX_TEXT = {"±": r"$\pm$", "×": r"$\times$", "Δ": r"$\Delta$", "—": "---", "–": "--", "−": "$-$", "≥": r"$\geq$"}
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


def variant_label(arm: pd.Series) -> str:
    """The variant's name; a matched arm also shows the width it was built at (``add_matched (×1.64)``)."""
    name, built = str(arm["ablation"]), arm.get("match_width_mult")
    if built is not None and not pd.isna(built) and not np.isclose(built, arm["width"]):
        name += f" ({width_label(built)})"
    return name


def p_pair(p: float, adjusted: float) -> str:
    """``raw (Holm-adjusted)``, or a dash where no test was possible."""
    return DASH if np.isnan(p) else f"{num(p, '.3f')} ({num(adjusted, '.3f')})"


def unique_extremes(numeric: pd.DataFrame, direction: dict[str, str]) -> pd.DataFrame:
    """Exact costs (params, MACs, size): bold only a strictly best value, never a tie."""
    best = extremes(numeric, direction)
    return best & (best.sum() == 1)


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
    best = unique_extremes(numeric, {params: "min", macs: "min", "Size (MiB)": "min"})
    best &= full["width"].nunique() == 1  # across budgets the smallest width is trivially the cheapest
    best["Test acc. (%)"] = full["best_overall"].to_numpy(bool)
    best = best.reindex(columns=text.columns, fill_value=False)
    caption = (f"Architectures (full variants) on {describe_data}. Test accuracy: mean ± std over n seeds "
               f"({seed_note(full)}); n counts the completed runs, and runs that diverged, failed or never finished "
               f"are counted beside it. MACs: multiply-adds per image forward; C×H×W: the feature map entering "
               f"global pooling; size: fp32 weights; train time: mean per run. Width: model.width_mult. Bold: "
               f"the lowest cost (at one width); the best accuracy only where {TEST_NAME} finds it above the "
               f"runner-up's (p < 0.05).")
    return Table("architectures", text, best, caption)


def ablations(arms: pd.DataFrame, describe_data: str) -> Table:
    """Table 2: every arm, its accuracy and its difference from the ``full`` arm of the same model and width."""
    arms = arms.reset_index(drop=True)
    mdiv, mu = unit(arms["macs"])
    text = group_columns(arms, pd.DataFrame({"Model": arms["model"].astype(str).map(model_label),
                                             "Variant": arms.apply(variant_label, axis=1)}))
    ci = [DASH if np.isnan(lo) else f"[{num(lo, '+.2f')}, {num(hi, '+.2f')}]"
          for lo, hi in zip(arms["ci_low"], arms["ci_high"])]
    text = text.assign(**{
        "Test acc. (%)": [pm(m, s) for m, s in zip(arms["acc_mean"], arms["acc_std"])],
        "n": arms.apply(count_note, axis=1),
        "Δ (pp)": arms["delta"].map(lambda v: num(v, "+.2f")),
        "95% CI": ci,
        "p (Holm)": [p_pair(p, a) for p, a in zip(arms["p"], arms["p_holm"])],
        "paired p (Holm)": [p_pair(p, a) for p, a in zip(arms["p_paired"], arms["p_paired_holm"])],
        "ΔParams (K)": (arms["d_params"] / 1e3).map(lambda v: num(v, "+,.1f")),  # K: small deltas stay visible
        f"ΔMACs ({mu})": (arms["d_macs"] / mdiv).map(lambda v: num(v, "+.1f")),
    })
    best = pd.DataFrame(False, index=text.index, columns=text.columns)
    best["Test acc. (%)"] = arms["best"].to_numpy(bool)
    text.loc[text["Model"].eq(text["Model"].shift()), "Model"] = ""  # print each model's name once per block
    tests = int(arms["p"].notna().sum())
    family = f"over the table's {tests} comparisons" if tests else "(no comparison here has two runs per arm)"
    caption = (f"Ablations on {describe_data}. Test accuracy: mean ± std over n seeds ({seed_note(arms)}); n counts "
               f"the completed runs, and runs that diverged, failed or never finished are counted beside it. "
               f"Δ: variant minus the full variant of the same model and width, with its 95% confidence interval "
               f"(clipped to ±100) "
               f"and two-sided p-value from {TEST_NAME} across seeds (unequal variances); in parentheses the "
               f"p-value Holm-adjusted {family}. Paired p: a paired t-test over the "
               f"seeds both arms completed (same split and batch order), Holm-adjusted in its own family. "
               f"A dash: no test (n < 2, or no variance in either arm). Matched variants (_matched: params, "
               f"_matched_macs: MACs) are built at the width in brackets, solved to equal the full variant's budget "
               f"within 2%. ΔParams, ΔMACs: change vs full. Bold: the most accurate variant of a block, only where "
               f"it beats the runner-up ({TEST_NAME}, Holm-adjusted over the blocks, p < 0.05).")
    return Table("ablations", text, best, caption)


def seed_note(arms: pd.DataFrame) -> str:
    """``seeds 0, 1`` when every arm used the same seeds, else the range of n."""
    seeds = arms["seeds"].unique()
    if len(seeds) == 1:
        return f"n = {arms['n'].iloc[0]}; seeds {seeds[0]}"
    return f"n = {arms['n'].min()}–{arms['n'].max()} per arm"


def describe_data(completed: pd.DataFrame) -> str:
    """The data set and copy the runs used, e.g. ``CIFAR-10 (JPEG q75 copy from the offline archive ...)``."""
    parts = []
    for (name, archive, subset), _ in completed.groupby(
            ["data_name", "data_archive", "data_test_subset"], dropna=False, sort=True):
        label = DATA_LABELS.get(str(name), str(name)) if pd.notna(name) else "unknown data"
        if pd.notna(archive) and archive:
            copy = "JPEG q75 copy" if "jpeg" in Path(str(archive)).name.lower() else "copy"
            label += f" ({copy} from the offline archive {Path(str(archive)).name})"
        if pd.notna(subset) and subset:
            label += f", evaluated on a stratified test subset of {int(subset):,} images"
        else:
            label += ", full test split"
        parts.append(label)
    return "; ".join(parts)
