"""The paper's two tables, as Markdown (README, GitHub) and LaTeX (booktabs) from the same frames.

Each table is a numeric frame (what is compared, bolded, tested) plus a text
frame (what is printed); pandas writes both outputs so the two never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jumpnet.report.stats import TEST_NAME

MODEL_LABELS = {"jumpnet": "JumpNet", "resnet_v2": "ResNet v2", "densenet": "DenseNet", "sparsenet": "SparseNet",
                "plain_cnn": "Plain CNN (floor)"}
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
        return bold.to_markdown(index=False, tablefmt="github")

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
    return MODEL_LABELS.get(str(name), str(name))


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


def architectures(arms: pd.DataFrame, describe_data: str) -> Table:
    """Table 1: one row per model's ``full`` arm: cost, shape before pooling, accuracy and training time."""
    full = arms[arms["ablation"] == "full"].reset_index(drop=True)
    minutes = full["train_time_s"].median() >= 120
    time_col = f"Train time ({'min' if minutes else 's'})"
    (pdiv, pu), (mdiv, mu) = unit(arms["params"]), unit(arms["macs"])
    params, macs = f"Params ({pu})", f"MACs ({mu})"
    numeric = pd.DataFrame({
        params: full["params"] / pdiv, macs: full["macs"] / mdiv, "Size (MiB)": full["size_mb"],
        "Test acc. (%)": full["acc_mean"], time_col: full["train_time_s"] / (60 if minutes else 1)})
    text = pd.DataFrame({"Model": full["model"].astype(str).map(model_label)})
    if (full["setting"] != "").any():
        text["Setting"] = full["setting"]
    text = text.assign(**{
        params: numeric[params].map(lambda v: num(v, ".3f" if pu == "M" else ".1f")),
        macs: numeric[macs].map(lambda v: num(v, ".1f")),
        "C×H×W": full["feature_map"].fillna(DASH).str.replace(" x ", "×"),
        "Size (MiB)": numeric["Size (MiB)"].map(lambda v: num(v, ".2f")),
        "Test acc. (%)": [pm(m, s) for m, s in zip(full["acc_mean"], full["acc_std"])],
        "n": full["n"].astype(str),
        time_col: numeric[time_col].map(lambda v: num(v, ".1f")),
    })
    best = extremes(numeric, {params: "min", macs: "min", "Size (MiB)": "min",
                              "Test acc. (%)": "max", time_col: "min"}).reindex(columns=text.columns, fill_value=False)
    caption = (f"Architectures (full variants) on {describe_data}. Test accuracy: mean ± std over n seeds "
               f"({seed_note(full)}). MACs: multiply-adds per image forward; C×H×W: the feature map entering "
               f"global pooling; size: fp32 weights; train time: mean per run. Bold: best per column.")
    return Table("architectures", text, best, caption)


def ablations(arms: pd.DataFrame, describe_data: str) -> Table:
    """Table 2: every model x variant, its accuracy and its difference from that model's ``full``."""
    arms = arms.reset_index(drop=True)
    mdiv, mu = unit(arms["macs"])
    text = pd.DataFrame({"Model": arms["model"].astype(str).map(model_label), "Variant": arms["ablation"].astype(str)})
    if (arms["setting"] != "").any():
        text.insert(1, "Setting", arms["setting"])
    ci = [DASH if np.isnan(lo) else f"[{num(lo, '+.2f')}, {num(hi, '+.2f')}]" for lo, hi in zip(arms["ci_low"], arms["ci_high"])]
    text = text.assign(**{
        "Test acc. (%)": [pm(m, s) for m, s in zip(arms["acc_mean"], arms["acc_std"])],
        "n": arms["n"].astype(str),
        "Δ (pp)": arms["delta"].map(lambda v: num(v, "+.2f")),
        "95% CI": ci,
        "p": arms["p"].map(lambda v: num(v, ".3f")),
        "ΔParams (K)": (arms["d_params"] / 1e3).map(lambda v: num(v, "+,.1f")),  # K: small deltas stay visible
        f"ΔMACs ({mu})": (arms["d_macs"] / mdiv).map(lambda v: num(v, "+.1f")),
    })
    numeric = pd.DataFrame({"Test acc. (%)": arms["acc_mean"], "Δ (pp)": arms["delta"]})
    groups = arms["model"].astype(str) + "|" + arms["setting"]
    best = extremes(numeric, {"Test acc. (%)": "max", "Δ (pp)": "max"}, groups)
    best = best.reindex(columns=text.columns, fill_value=False)
    text.loc[text["Model"].eq(text["Model"].shift()), "Model"] = ""  # print each model's name once per block
    caption = (f"Ablations on {describe_data}. Test accuracy: mean ± std over n seeds ({seed_note(arms)}). "
               f"Δ: variant minus the same model's full variant, with its 95% confidence interval and "
               f"two-sided p-value from {TEST_NAME} across seeds (unequal variances; needs n ≥ 2 per arm; "
               f"not corrected for multiple comparisons). ΔParams, ΔMACs: change vs full. "
               f"Bold: best per column within each model.")
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
