"""The paper's tables as Markdown (README, GitHub) and LaTeX (booktabs) from the same frames, and Table 1.

Each table is a numeric frame (what is compared, bolded, tested) plus a text
frame (what is printed); pandas writes both outputs so the two never disagree.
Table 2 is ``ablation_table``, Table 3 ``budget``; captions say what each table's
reader needs, and the LaTeX ones end with the compact setup block (``setup``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jumpnet.report.comparisons import count_note
from jumpnet.report.setup import describe_data

__all__ = ["Table", "architectures", "describe_data"]

TEST_NAME = "Welch's t-test"
# pdflatex-safe spellings of the few non-ASCII characters the tables use.
LATEX_TEXT = {"±": r"$\pm$", "×": r"$\times$", "Δ": r"$\Delta$", "—": "---", "–": "--", "−": "$-$", "≥": r"$\geq$",
              "↳": r"$\hookrightarrow$", "†": r"$\dagger$", "ⁱ": r"$^{i}$"}
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
DASH = "—"
TEXT_COLUMNS = ("Model", "Setting", "Variant")
PRINTED_NUMBER = re.compile(r"[−+-]?[\d,]*\.?\d+")  # the leading number a cell shows ("85.12" of "85.12 ± 0.30")


@dataclass
class Table:
    """A printed table: ``text`` is what is shown, ``best`` marks the cells set in bold."""

    name: str
    text: pd.DataFrame
    best: pd.DataFrame
    caption: str
    setup: str = ""  # the setup block in one sentence: LaTeX captions end with it (the README states it once)

    def markdown(self) -> str:
        bold = self.text.mask(self.best, "**" + self.text + "**")
        return bold.to_markdown(index=False, tablefmt="github", disable_numparse=True)  # "26.20" stays "26.20"

    def latex(self) -> str:
        styler = self.text.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
        styler = styler.apply(lambda _: self.best.replace({True: "font-weight: bold;", False: ""}), axis=None)
        caption = latex_escape(f"{self.caption} {self.setup}".strip())
        tex = styler.to_latex(hrules=True, convert_css=True, caption=caption,
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


def model_names(frame: pd.DataFrame) -> pd.Series:
    """Each row's family as printed: its YAML's ``display.name`` (``jumpnet.report.display``), else its config name."""
    names = frame["model_name"] if "model_name" in frame else frame["model"]
    return names.astype(str).reset_index(drop=True).set_axis(frame.index)


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


def printed_ties(text: pd.DataFrame, best: pd.DataFrame, groups: pd.Series | None = None) -> pd.DataFrame:
    """``best`` without any cell whose printed number another cell of its column and group shows too: bold compares
    what the reader sees (3.1108 and 3.1133 both print "3.11": neither is bold)."""
    keys = (groups if groups is not None else pd.Series(0, index=text.index)).to_numpy()
    out = best.copy()
    for col in best.columns:
        if not best[col].any():
            continue
        shown = text[col].astype(str).map(lambda t: m.group(0) if (m := PRINTED_NUMBER.match(t.strip())) else None)
        for i in np.flatnonzero(best[col].to_numpy(bool)):
            twins = (shown.to_numpy() == shown.iloc[i]) & (keys == keys[i])
            if shown.iloc[i] is not None and twins.sum() > 1:
                out.iloc[i, out.columns.get_loc(col)] = False
    return out


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


def unique_extremes(numeric: pd.DataFrame, direction: dict[str, str], groups: pd.Series) -> pd.DataFrame:
    """Exact costs (params, MACs, size): bold only a strictly best value of its group (one width), never a tie."""
    best = extremes(numeric, direction, groups)
    return best & best.groupby(groups.to_numpy()).transform("sum").eq(1).to_numpy()


def width_groups(arms: pd.DataFrame) -> pd.Series:
    """One key per width and setting: bold compares within one, never across pooled widths."""
    return arms["width"].astype(str) + "|" + arms["setting"].astype(str)


def architectures(arms: pd.DataFrame, describe_data: str) -> Table | None:
    """Table 1: one row per model's ``full`` arm (per width): cost, shape before pooling, accuracy, training time;
    None where no arm is ``full`` (a sweep of variants alone: the README says so)."""
    full = arms[arms["ablation"] == "full"].reset_index(drop=True)
    if full.empty:
        return None
    minutes = full["train_time_s"].median() >= 120
    time_col = f"Train time ({'min' if minutes else 's'})"
    (pdiv, pu), (mdiv, mu) = unit(arms["params"]), unit(arms["macs"])
    params, macs = f"Params ({pu})", f"MACs ({mu})"
    numeric = pd.DataFrame({params: full["params"] / pdiv, macs: full["macs"] / mdiv, "Size (MiB)": full["size_mb"]})
    text = group_columns(full, pd.DataFrame({"Model": model_names(full)}))
    text = text.assign(**{
        params: numeric[params].map(lambda v: num(v, ".3f" if pu == "M" else ".1f")),
        macs: numeric[macs].map(lambda v: num(v, ".1f")),
        "C×H×W": [str(f).replace(" x ", "×") if isinstance(f, str) else DASH for f in full["feature_map"]],
        "Size (MiB)": numeric["Size (MiB)"].map(lambda v: num(v, ".2f")),
        "Test acc. (%)": [pm(m, s) for m, s in zip(full["acc_mean"], full["acc_std"])],
        "n": full.apply(count_note, axis=1),
        time_col: (full["train_time_s"] / (60 if minutes else 1)).map(lambda v: num(v, ".1f")),
    })
    best = unique_extremes(numeric, {params: "min", macs: "min", "Size (MiB)": "min"}, width_groups(full))
    best["Test acc. (%)"] = full["best_overall"].to_numpy(bool)
    best = printed_ties(text, best.reindex(columns=text.columns, fill_value=False), width_groups(full))
    caption = (f"Architectures (full variants) on {describe_data}. Test acc.: mean ± std over n seeds "
               f"({seed_note(full)}); runs not in the mean are counted beside n. MACs: multiply-adds per image; "
               f"C×H×W: the map entering global pooling; size: fp32 weights. Bold, per width: the lowest cost, and the "
               f"best accuracy where it beats the runner-up ({TEST_NAME}, Holm, p < 0.05) and differs as printed.")
    return Table("architectures", text, best, caption)


def seed_note(arms: pd.DataFrame) -> str:
    """``seeds 0, 1`` when every arm used the same seeds, else the range of n."""
    seeds = arms["seeds"].unique()
    if len(seeds) == 1:
        return f"n = {arms['n'].iloc[0]}; seeds {seeds[0]}"
    return f"n = {arms['n'].min()}–{arms['n'].max()} per arm"
