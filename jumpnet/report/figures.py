"""The paper's figures, sized for one column (3.4 in) and saved as PDF (TrueType fonts) and PNG.

Figures are built as ``matplotlib.figure.Figure`` objects on an Agg canvas, never
through pyplot, so building a report changes no global backend state and the
builders can return figures for tests to inspect.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from jumpnet.report.budget import family_curves, family_name
from jumpnet.report.comparisons import NOT_RUN, count_note
from jumpnet.report.tables import unit, width_label

WIDTH = 3.4  # inches: one column of a two-column paper
RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8,
      "legend.fontsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
      "axes.spines.right": False, "lines.linewidth": 1.2, "savefig.dpi": 300, "savefig.bbox": "tight",
      "savefig.pad_inches": 0.02, "legend.frameon": False}
# Okabe-Ito colours (colour-blind safe); a model or variant keeps its colour in every figure.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#7F7F7F", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h"]
VARIANT_COLORS = {"full": "#000000", "no_links": "#D55E00", "add": "#0072B2", "concat": "#009E73"}
OTHER_VARIANT_COLORS = ["#E69F00", "#CC79A7", "#56B4E9", "#7F7F7F", "#F0E442"]


def new_figure(height: float, width: float = WIDTH) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def base_variant(name: str) -> str:
    """``add_matched`` and ``add_matched_macs`` keep ``add``'s colour (their bars are hatched)."""
    return name.removesuffix("_macs").removesuffix("_matched")


def variant_color(variants: list[str], name: str) -> str:
    others = list(dict.fromkeys(base_variant(v) for v in variants if base_variant(v) not in VARIANT_COLORS))
    base = base_variant(name)
    return VARIANT_COLORS.get(base) or OTHER_VARIANT_COLORS[others.index(base) % len(OTHER_VARIANT_COLORS)]


def arm_label(model: object, setting: str, width: float = 1.0) -> str:
    return family_name(model, setting) + ("" if width == 1.0 else f" {width_label(width)}")


def log_axis(ax: Axes) -> None:
    """Log scale with plain-number ticks at 1, 1.5, 2, 3, 4, 5, 7 x 10^k: the models' costs span about a decade."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


# Open markers of matched arms, shapes no family line uses (families: FAMILY_MARKERS, filled).
MATCHED_MARKERS = {"add_matched": "P", "no_links_matched": "X", "add_matched_macs": "*", "no_links_matched_macs": "h"}
FAMILY_MARKERS = ["o", "s", "^", "D", "v", "<", ">", "p", "8"]


def accuracy_vs_cost(arms: pd.DataFrame, cost: str, xlabel: str) -> Figure:
    """Test accuracy against a cost: one line per family through its budgets (full arms), matched arms open.

    Each point is the mean over seeds with its 95% t interval; a family measured at one width is one point.
    """
    curves = family_curves(arms)
    matched = arms[arms["ablation"].astype(str).isin(list(MATCHED_MARKERS)) & arms["acc_mean"].notna()]
    fig = new_figure(3.1)
    ax = fig.add_subplot()
    div, suffix = unit(pd.concat([curves[cost], matched[cost]]))
    handles = []
    for i, (family, curve) in enumerate(curves.groupby("family", sort=False)):
        color, x, y = PALETTE[i % len(PALETTE)], curve[cost].to_numpy(float) / div, curve["acc_mean"].to_numpy(float)
        err = np.vstack([y - curve["acc_low"], curve["acc_high"] - y])
        handles.append(ax.errorbar(x, y, yerr=err if np.isfinite(err).any() else None, ms=4, color=color, capsize=2,
                                   fmt=f"{FAMILY_MARKERS[i % len(FAMILY_MARKERS)]}-", lw=1.0, elinewidth=0.8,
                                   label=family, zorder=2))
        mine = matched[(matched["model"] == curve["model"].iloc[0]) & (matched["setting"] == curve["setting"].iloc[0])]
        for _, arm in mine.iterrows():
            ax.plot(arm[cost] / div, arm["acc_mean"], MATCHED_MARKERS[str(arm["ablation"])], ms=5, mfc="white",
                    mec=color, mew=1.0, zorder=3)
    for variant, marker in MATCHED_MARKERS.items():
        if (matched["ablation"].astype(str) == variant).any():
            handles += ax.plot([], [], marker, ms=5, mfc="white", mec="black", ls="none", label=variant)
    plotted = arms["ablation"].astype(str).isin(["full", *MATCHED_MARKERS])
    lost = arms[plotted & arms["acc_mean"].isna() & arms[cost].notna()]
    if len(lost):  # budgets whose every run diverged or failed: a cross on the x axis, never a silent gap
        bottom = ax.get_ylim()[0]
        ax.plot(lost[cost].to_numpy(float) / div, [bottom] * len(lost), "x", color="black", ms=5, mew=1.2,
                clip_on=False, zorder=4)
        ax.set_ylim(bottom=bottom)
        handles += ax.plot([], [], "x", color="black", ms=5, mew=1.2, ls="none", label="no completed run")
    log_axis(ax)
    ax.set_xlabel(xlabel.format(unit=suffix))
    ax.set_ylabel("Test accuracy (%)")
    ax.grid(True, which="major", lw=0.3, alpha=0.5)
    open_markers = "; open: matched arms" if len(handles) > curves["family"].nunique() else ""
    fig.legend(handles=handles, loc="outside lower center", ncols=2, handletextpad=0.3, columnspacing=1.0,
               title_fontsize=6, title="full arms through their widths: mean, 95% CI" + open_markers)
    return fig


def line_label(variant: object, width: float) -> str:
    """A validation curve's name: the variant, and its width where it is not 1 (budget sweeps)."""
    return str(variant) + ("" if width == 1.0 else f" {width_label(width)}")


def validation_curves(history: pd.DataFrame) -> Figure:
    """Validation accuracy per epoch: one panel per model, one line per variant and width (mean, ±1 std band)."""
    done = history[history["status"] == "completed"].assign(val=lambda h: h["val_acc"].astype(float) * 100.0)
    panels = list(done.groupby(["model", "setting"], observed=True, sort=True).groups)
    keys = done[["ablation", "width"]].drop_duplicates().sort_values(["ablation", "width"])
    variants = list(dict.fromkeys(line_label(v, w) for v, w in zip(keys["ablation"], keys["width"])))
    ncols = 1 if len(panels) <= 1 else 2
    nrows = max(1, math.ceil(len(panels) / ncols))
    fig = new_figure(1.35 * nrows + 0.35)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, (model, setting) in zip(axes, panels):
        panel = done[(done["model"] == model) & (done["setting"] == setting)]
        for (variant, width), arm in panel.groupby(["ablation", "width"], observed=True, sort=True):
            curve = arm.groupby("epoch")["val"].agg(["mean", "std"]).dropna(subset=["mean"])
            color = variant_color(variants, line_label(variant, width))
            ax.plot(curve.index, curve["mean"], color=color, marker="o" if len(curve) <= 3 else None, ms=3,
                    label=line_label(variant, width))
            ax.fill_between(curve.index, curve["mean"] - curve["std"], curve["mean"] + curve["std"],
                            color=color, alpha=0.2, lw=0)
        if panel["val"].isna().all():
            ax.text(0.5, 0.5, "no validation split", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(arm_label(model, setting), pad=2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if done["epoch"].max() <= 1:  # one epoch: one tick, not a crowd of fractions
            ax.set_xticks([1])
        ax.grid(True, lw=0.3, alpha=0.5)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    for ax in axes[::ncols]:
        ax.set_ylabel("Val. accuracy (%)")
    for ax in axes[-ncols:] if len(panels) % ncols == 0 else axes[len(panels) - ncols:len(panels)]:
        ax.set_xlabel("Epoch")
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    spare = axes[-1] if len(panels) < len(axes) else None
    (spare or fig).legend([handles[v] for v in variants if v in handles], [v for v in variants if v in handles],
                          loc="center" if spare else "outside upper center",
                          ncols=1 if spare else min(4, len(handles)),
                          title="Variant (mean ± 1 std over seeds)")
    return fig


def ablation_deltas(arms: pd.DataFrame) -> Figure:
    """Each variant's accuracy change from its model's ``full`` arm, with the 95% CI as error bars; an arm
    with no completed run (every run diverged, failed or unfinished) is a cross at 0 saying so, never a gap."""
    missing = pd.Series([bool(sum(arm.get(f"n_{s}", 0) or 0 for s in NOT_RUN)) for _, arm in arms.iterrows()],
                        index=arms.index, dtype=bool) if len(arms) else pd.Series(dtype=bool)
    shown = (arms["ablation"] != "full") & (arms["delta"].notna() | missing)
    rows = arms[shown].reset_index(drop=True)
    groups = list(dict.fromkeys(zip(rows["model"], rows["setting"], rows["width"])))
    present = set(rows["ablation"].astype(str))
    variants = [str(v) for v in arms["ablation"].cat.categories if v != "full" and v in present]
    fig = new_figure(2.6)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(variants))
    for j, variant in enumerate(variants):
        arm = rows[rows["ablation"].astype(str) == variant]
        pos = [groups.index(k) + (j - (len(variants) - 1) / 2) * width
               for k in zip(arm["model"], arm["setting"], arm["width"])]
        err = np.vstack([arm["delta"] - arm["ci_low"], arm["ci_high"] - arm["delta"]])
        has_ci = bool(np.isfinite(err).any())  # n = 1 per arm: no interval, so no error bar at all
        ax.bar(pos, arm["delta"], width * 0.9, yerr=err if has_ci else None, capsize=2, label=variant,
               color=variant_color(["full", *variants], variant), error_kw={"lw": 0.8},
               hatch="////" if base_variant(variant) != variant else None, edgecolor="white", lw=0)
        for x, low, high in zip(pos, arm.get("boot_low", []), arm.get("boot_high", [])):
            if np.isfinite(low):  # seeds and test images: a thin grey whisker beside the bar
                ax.plot([x + width * 0.3] * 2, [low, high], color="0.55", lw=0.8, solid_capstyle="butt", zorder=3)
        for x, d, low, high, p in zip(pos, arm["delta"], arm["ci_low"], arm["ci_high"], arm["p_holm"]):
            if p < 0.05:  # the primary family (or all, none declared), significant after Holm: a star beyond the CI
                ax.annotate("*", (x, low if d < 0 else high), ha="center", va="top" if d < 0 else "bottom")
        for x, (_, lost) in zip(pos, arm.iterrows()):
            if pd.isna(lost["delta"]):  # no completed run: say what happened where its bar would be
                ax.plot([x], [0], marker="x", ms=5, mew=1.2, color=variant_color(["full", *variants], variant))
                ax.annotate(count_note(lost).split(", ", 1)[-1], (x, 0), xytext=(0, 4), textcoords="offset points",
                            rotation=90, ha="center", va="bottom", fontsize=6)
    ax.axhline(0, color="black", lw=0.6)
    ends = pd.concat([rows["ci_low"], rows["ci_high"], rows["delta"], pd.Series([0.0])]).dropna()
    pad = 0.1 * max(float(ends.max() - ends.min()), 1e-3)
    ax.set_ylim(ends.min() - pad, ends.max() + pad)  # room for the significance stars
    tilt = any(s for _, s, _ in groups) or len(groups) > 3   # long or many labels: tilt them so they never overlap
    ax.set_xticks(range(len(groups)), [arm_label(m, s, w) for m, s, w in groups],
                  rotation=25 if tilt else 0, ha="right" if tilt else "center", rotation_mode="anchor")
    ax.set_xlim(-0.5, max(0, len(groups) - 1) + 0.5)
    ax.set_ylabel("Δ test acc. vs full (pp)")
    ax.grid(True, axis="y", lw=0.3, alpha=0.5)
    if variants:
        fig.legend(loc="outside upper center", ncols=min(4, len(variants)), title="Variant (error bars: 95% CI over "
                   "seeds; grey: seeds + test images;\n* p < 0.05, Welch, Holm-adjusted, primary family; x: no "
                   "completed run)", handlelength=1.2, columnspacing=1.0)
    else:
        ax.text(0.5, 0.5, "no ablation variants with a full baseline", ha="center", va="center",
                transform=ax.transAxes)
    return fig


def build_figures(arms: pd.DataFrame, history: pd.DataFrame) -> dict[str, Figure]:
    """All figures by file stem; built under the report's rc settings."""
    with matplotlib.rc_context(RC):
        figures = {
            "fig_acc_vs_params": accuracy_vs_cost(arms, "params", "Parameters ({unit}, log scale)"),
            "fig_acc_vs_macs": accuracy_vs_cost(arms, "macs", "MACs per image ({unit}, log scale)"),
            "fig_ablation_deltas": ablation_deltas(arms),
        }
        if not history.empty:
            figures["fig_val_curves"] = validation_curves(history)
    return figures


def save_figures(figures: dict[str, Figure], out: Path) -> list[Path]:
    """Each figure as PDF (TrueType fonts embedded, as venues require) and PNG (for the README)."""
    paths = []
    with matplotlib.rc_context(RC):
        for stem, fig in figures.items():
            for ext in ("pdf", "png"):
                fig.savefig(out / f"{stem}.{ext}")
                paths.append(out / f"{stem}.{ext}")
    return paths
