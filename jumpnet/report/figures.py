"""The paper's figures, sized for one column (3.4 in) and saved as PDF (TrueType fonts) and PNG.

Figures are built as ``matplotlib.figure.Figure`` objects on an Agg canvas, never through pyplot, so building a
report changes no global backend state and the builders can return figures for tests to inspect.

They survive whatever the tables survive (several sweeps, runs that differ in a setting, many families, one width,
one seed): a family or panel is named by its display name (``model.display``) and a short setting key (``S1``; the
README's Setup section says what it stands for), never by the setting's text; every seed is drawn beside its arm's
mean and interval; a cost axis is linear where the costs span a narrow range and a padded log axis where they span
a wide one; legends take as many columns as their longest entry allows and grow the figure downwards, and the
ablation figure is horizontal, so its labels never overlap however many arms there are.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import ScaledTranslation

from jumpnet.report.budget import family_curves, family_name, setting_keys
from jumpnet.report.comparisons import NOT_RUN, count_note
from jumpnet.report.tables import model_names, unit, width_label

WIDTH = 3.4  # inches: one column of a two-column paper
RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 7,
      "legend.fontsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
      "axes.spines.right": False, "lines.linewidth": 1.2, "savefig.dpi": 300, "savefig.bbox": "tight",
      "savefig.pad_inches": 0.02, "legend.frameon": False}
LINE_CHARS = 52        # characters of 7-point legend text one column-wide row holds (with handles and spacing)
LABEL_CHARS = 22       # a tick label or panel title longer than this wraps onto another line
NARROW = 3.0           # costs spanning less than this factor get a linear axis
VARIANT_COLORS = {"full": "#000000", "no_links": "#D55E00", "add": "#0072B2", "concat": "#009E73"}
OTHER_VARIANT_COLORS = ["#E69F00", "#CC79A7", "#56B4E9", "#7F7F7F", "#F0E442"]
# Open markers of matched arms, shapes no family line uses by default (families: their YAML's marker, filled).
MATCHED_MARKERS = {"add_matched": "P", "no_links_matched": "X", "add_matched_macs": "*", "no_links_matched_macs": "h"}
SEED_OFFSET = 5        # points: a seed's dot sits this far right of its arm's mean
CURVE_OFFSET = 3.5     # points between the curves of families or settings that sit at the same cost
SETTING_STYLES = [("full", "-"), ("none", "--"), ("left", ":"), ("bottom", "-.")]  # marker fill, line: S1, S2, ...


def new_figure(height: float, width: float = WIDTH) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def legend_columns(labels: list[str], most: int = 4) -> int:
    """As many columns as the longest label lets a column-wide row hold."""
    longest = max((len(str(label)) for label in labels), default=1) + 4   # the handle and the gap
    return max(1, min(most, len(labels), LINE_CHARS // longest))


def wrap(label: str, width: int = LABEL_CHARS) -> str:
    return "\n".join(textwrap.wrap(label, width, break_long_words=True)) or label


def base_variant(name: str) -> str:
    """``add_matched`` and ``add_matched_macs`` keep ``add``'s colour (their bars are hatched)."""
    return name.removesuffix("_macs").removesuffix("_matched")


def variant_color(variants: list[str], name: str) -> str:
    others = list(dict.fromkeys(base_variant(v) for v in variants if base_variant(v) not in VARIANT_COLORS))
    base = base_variant(name)
    return VARIANT_COLORS.get(base) or OTHER_VARIANT_COLORS[others.index(base) % len(OTHER_VARIANT_COLORS)]


def arm_label(name: object, setting: str, width: float = 1.0) -> str:
    """``JumpNet S2 ×0.5``: the display name, the setting's key, the width where it is not 1."""
    return family_name(name, setting) + ("" if width == 1.0 else f" {width_label(width)}")


def cost_axis(ax: Axes, values: np.ndarray) -> bool:
    """A linear axis padded around the costs where they span under ``NARROW``x (a 0.5% range must not fill the
    width), else a log axis padded by a quarter of a decade's step, ticks at 1, 2, 5 x 10^k; True when log."""
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return False
    low, high = float(values.min()), float(values.max())
    if high / low < NARROW:
        pad = max(0.08 * (high - low), 0.02 * high)
        ax.set_xlim(max(0.0, low - pad), high + pad)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        return False
    ax.set_xscale("log")
    ax.set_xlim(low / 1.25, high * 1.25)
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    return True


def shifted(ax: Axes, points: float):
    """Data coordinates moved right by ``points`` (whatever the axis scale)."""
    return ax.transData + ScaledTranslation(points / 72, 0, ax.figure.dpi_scale_trans)


def seed_points(ax: Axes, x: float, seeds: dict, color: str, offset: float = 0.0) -> None:
    """Each seed's accuracy as a small dot just right of its arm's mean (an offset in points, whatever the scale)."""
    values = [float(v) for v in (seeds or {}).values()]
    if not values:
        return
    shift = shifted(ax, offset + SEED_OFFSET)
    ax.plot([x] * len(values), values, "o", ms=2.2, mfc="none", mec=color, mew=0.6, alpha=0.8, transform=shift,
            zorder=4, label="_seed")


def curve_offsets(curves: pd.DataFrame, cost: str) -> dict[str, float]:
    """Points to shift each family's curve by: families whose costs agree within 2% sit side by side, not on top of
    each other; a family alone at its cost stays where it is."""
    costs = curves.groupby("family", sort=False)[cost].apply(
        lambda c: tuple(np.round(np.log(c.to_numpy(float)) / 0.02)))
    offsets = {}
    for _, same in costs.groupby(costs.map(lambda c: c[0]), sort=False):
        for i, family in enumerate(same.index):
            offsets[family] = (i - (len(same) - 1) / 2) * CURVE_OFFSET
    return offsets


def accuracy_vs_cost(arms: pd.DataFrame, cost: str, what: str) -> Figure:
    """Test accuracy against a cost: one line per family through its widths (full arms), matched arms open.

    Each point is the mean over seeds with its 95% t interval, its seeds as small dots beside it; a family measured
    at one width is one point.
    """
    curves = family_curves(arms)
    matched = arms[arms["ablation"].astype(str).isin(list(MATCHED_MARKERS)) & arms["acc_mean"].notna()]
    fig = new_figure(2.4)
    ax = fig.add_subplot()
    div, suffix = unit(pd.concat([curves[cost], matched[cost], arms[cost]]).dropna())
    handles = []
    settings = sorted(set(setting_keys(curves)))
    offsets = curve_offsets(curves, cost)
    for family, curve in curves.groupby("family", sort=False):
        first = curve.iloc[0]
        color = str(first.get("model_color") or "#0072B2")
        marker = str(first.get("model_marker") or "o")
        fill, style = SETTING_STYLES[settings.index(setting_keys(curve).iloc[0]) % len(SETTING_STYLES)]
        offset = offsets[family]
        x, y = curve[cost].to_numpy(float) / div, curve["acc_mean"].to_numpy(float)
        err = np.vstack([y - curve["acc_low"], curve["acc_high"] - y])
        handles.append(ax.errorbar(x, y, yerr=err if np.isfinite(err).any() else None, ms=4, color=color, capsize=2,
                                   fmt=marker, ls=style, fillstyle=fill, mfc=color if fill == "full" else "white",
                                   lw=1.0, elinewidth=0.8, label=family, zorder=2, transform=shifted(ax, offset)))
        for xi, (_, arm) in zip(x, curve.iterrows()):
            seed_points(ax, xi, arm.get("seed_acc"), color, offset)
        mine = matched[(matched["model"] == first["model"]) & (matched["setting"] == first["setting"])]
        for _, arm in mine.iterrows():
            ax.plot(arm[cost] / div, arm["acc_mean"], MATCHED_MARKERS[str(arm["ablation"])], ms=5, mfc="white",
                    mec=color, mew=1.0, zorder=3)
    for variant, marker in MATCHED_MARKERS.items():
        if (matched["ablation"].astype(str) == variant).any():
            handles += ax.plot([], [], marker, ms=5, mfc="white", mec="black", ls="none", label=variant)
    handles += ax.plot([], [], "o", ms=2.2, mfc="none", mec="black", mew=0.6, ls="none", label="each seed")
    plotted = arms["ablation"].astype(str).isin(["full", *MATCHED_MARKERS])
    lost = arms[plotted & arms["acc_mean"].isna() & arms[cost].notna()]
    xs = pd.concat([curves[cost], matched[cost], lost[cost]]).to_numpy(float) / div
    log = cost_axis(ax, xs)
    seeds = [float(v) for d in curves.get("seed_acc", []) for v in (d or {}).values()]
    ys = pd.Series([*curves["acc_low"], *curves["acc_high"], *curves["acc_mean"], *matched["acc_mean"], *seeds],
                   dtype=float).dropna()
    if len(ys):  # shifted artists are not autoscaled: the accuracies' range, padded
        pad = max(0.08 * float(ys.max() - ys.min()), 0.5)   # beyond 0 and 100 too: a marker there is seen whole
        ax.set_ylim(float(ys.min()) - pad, float(ys.max()) + pad)
    if len(lost):  # budgets whose every run diverged or failed: a cross on the x axis, never a silent gap
        bottom = ax.get_ylim()[0]
        ax.plot(lost[cost].to_numpy(float) / div, [bottom] * len(lost), "x", color="black", ms=5, mew=1.2,
                clip_on=False, zorder=4)
        ax.set_ylim(bottom=bottom)
        handles += ax.plot([], [], "x", color="black", ms=5, mew=1.2, ls="none", label="no completed run")
    ax.set_xlabel(f"{what} ({suffix}{', log scale' if log else ''})")
    ax.set_ylabel("Test accuracy (%)")
    ax.grid(True, which="major", lw=0.3, alpha=0.5)
    labels = [h.get_label() for h in handles]
    fig.legend(handles=handles, loc="outside lower center", ncols=legend_columns(labels, 3), handletextpad=0.3,
               columnspacing=1.0, title_fontsize=6, title="full arms through their widths: mean, 95% CI")
    grow(fig, 2.4)
    return fig


def grow(fig: Figure, base: float) -> None:
    """Add the outside legends' height to the figure, so the axes keep their size whatever the legend holds."""
    renderer = fig.canvas.get_renderer()
    extra = sum(legend.get_window_extent(renderer).height for legend in fig.legends) / fig.dpi
    fig.set_size_inches(WIDTH, base + extra)


def line_label(variant: object, width: float) -> str:
    """A validation curve's name: the variant, and its width where it is not 1 (budget sweeps)."""
    return str(variant) + ("" if width == 1.0 else f" {width_label(width)}")


def validation_curves(history: pd.DataFrame) -> Figure:
    """Validation accuracy per epoch: one panel per family and setting, one line per variant and width (mean over
    seeds, ±1 std band)."""
    done = history[history["status"] == "completed"].assign(val=lambda h: h["val_acc"].astype(float) * 100.0,
                                                           name=lambda h: model_names(h),
                                                           key=lambda h: setting_keys(h))
    panels = list(done.groupby(["model", "setting"], observed=True, sort=True).groups)
    keys = done[["ablation", "width"]].drop_duplicates().sort_values(["ablation", "width"])
    variants = list(dict.fromkeys(line_label(v, w) for v, w in zip(keys["ablation"], keys["width"])))
    ncols = 1 if len(panels) <= 1 else 2
    nrows = max(1, math.ceil(len(panels) / ncols))
    base = 1.3 * nrows + 0.3
    fig = new_figure(base)
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
        ax.set_title(wrap(arm_label(panel["name"].iloc[0], panel["key"].iloc[0])), pad=2)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        if done["epoch"].max() <= 1:  # one epoch: one tick, not a crowd of fractions
            ax.set_xticks([1])
        ax.grid(True, lw=0.3, alpha=0.5)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    for ax in axes[::ncols]:
        ax.set_ylabel("Val. acc. (%)")
    for ax in axes[-ncols:] if len(panels) % ncols == 0 else axes[len(panels) - ncols:len(panels)]:
        ax.set_xlabel("Epoch")
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    shown = [v for v in variants if v in handles]
    fig.legend([handles[v] for v in shown], shown, loc="outside lower center", ncols=legend_columns(shown),
               title="Variant (mean ± 1 std over seeds)", handlelength=1.5, columnspacing=1.0)
    grow(fig, base)
    return fig


def ablation_deltas(arms: pd.DataFrame) -> Figure:
    """Each variant's accuracy change from its model's ``full`` arm, horizontal: one block of bars per family,
    setting and width, one bar per variant with its 95% CI over seeds, its seeds' own differences as dots and the
    bootstrap interval (seeds and test images) as a grey whisker; an arm with no completed run is a cross at 0 saying
    what happened, never a gap."""
    missing = pd.Series([bool(sum(arm.get(f"n_{s}", 0) or 0 for s in NOT_RUN)) for _, arm in arms.iterrows()],
                        index=arms.index, dtype=bool) if len(arms) else pd.Series(dtype=bool)
    shown = (arms["ablation"] != "full") & (arms["delta"].notna() | missing)
    rows = arms[shown].reset_index(drop=True)
    names, keys = model_names(rows), setting_keys(rows)
    groups = list(dict.fromkeys(zip(names, keys, rows["width"])))
    present = set(rows["ablation"].astype(str))
    variants = [str(v) for v in arms["ablation"].cat.categories if v != "full" and v in present]
    slot = 0.8 / max(1, len(variants))
    base = 0.9 + 0.16 * max(1, len(groups)) * max(1, len(variants)) ** 0.5
    fig = new_figure(base)
    ax = fig.add_subplot()
    ends = pd.concat([rows["ci_low"], rows["ci_high"], rows["delta"], pd.Series([0.0]),
                      rows.get("boot_low", pd.Series(dtype=float)), rows.get("boot_high", pd.Series(dtype=float)),
                      *[pd.Series(list((d or {}).values()), dtype=float) for d in rows.get("seed_delta", [])]]).dropna()
    right = max(float(ends.max()), 0.0)
    for j, variant in enumerate(variants):
        arm = rows[rows["ablation"].astype(str) == variant]
        pos = [groups.index(k) + (j - (len(variants) - 1) / 2) * slot
               for k in zip(model_names(arm), setting_keys(arm), arm["width"])]
        err = np.vstack([arm["delta"] - arm["ci_low"], arm["ci_high"] - arm["delta"]])
        color = variant_color(["full", *variants], variant)
        ax.barh(pos, arm["delta"], slot * 0.85, xerr=err if np.isfinite(err).any() else None, capsize=2,
                label=variant, color=color, error_kw={"lw": 0.8}, edgecolor="white", lw=0,
                hatch="////" if base_variant(variant) != variant else None)
        for y, (_, one) in zip(pos, arm.iterrows()):
            if np.isfinite(one.get("boot_low", np.nan)):  # seeds and test images: a thin grey whisker below the bar
                ax.plot([one["boot_low"], one["boot_high"]], [y + slot * 0.3] * 2, color="0.55", lw=0.8,
                        solid_capstyle="butt", zorder=3)
            deltas = list((one.get("seed_delta") or {}).values())
            ax.plot(deltas, [y] * len(deltas), "o", ms=2.2, mfc="white", mec="black", mew=0.5, zorder=4,
                    label="_seed")
            if one["p_holm"] < 0.05:  # significant after Holm (primary family, or all where none is declared)
                end = one["ci_low"] if one["delta"] < 0 else one["ci_high"]
                ax.annotate("*", (end, y), xytext=(-3 if one["delta"] < 0 else 3, 0), textcoords="offset points",
                            ha="right" if one["delta"] < 0 else "left", va="center")
            lost = count_note(one).split(", ", 1)[1:]  # runs not in the mean: "1 diverged", "2 failed"
            if pd.isna(one["delta"]):  # no completed run: say what happened where its bar would be
                ax.plot([0], [y], marker="x", ms=5, mew=1.2, color=color)
                ax.annotate(lost[0] if lost else "no run", (0, y), xytext=(5, 0), textcoords="offset points",
                            ha="left", va="center", fontsize=6)
            elif lost:  # some seeds completed, others did not: the bar says so, right of everything drawn
                ax.annotate(f"+{lost[0]}", (right, y), xytext=(3, 0), textcoords="offset points", ha="left",
                            va="center", fontsize=6)
    ax.axvline(0, color="black", lw=0.6)
    span = max(float(ends.max() - ends.min()), 1e-3)
    text_room = 0.35 * span if missing[shown].any() else 0.0  # the "2 diverged" notes right of the bars
    ax.set_xlim(ends.min() - 0.1 * span, max(ends.max(), 0.0) + 0.1 * span + text_room)
    ax.set_yticks(range(len(groups)), [wrap(arm_label(n, k, w)) for n, k, w in groups])
    ax.set_ylim(max(1, len(groups)) - 0.5, -0.5)  # the first block on top, as in the tables
    ax.set_xlabel("Δ test acc. vs full (pp)")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)
    if variants:
        handles, labels = ax.get_legend_handles_labels()
        handles += ax.plot([], [], "o", ms=2.2, mfc="white", mec="black", mew=0.5, ls="none")
        labels += ["each seed"]
        fig.legend(handles, labels, loc="outside upper center", ncols=legend_columns(labels), handlelength=1.2,
                   columnspacing=1.0, title="Variant (bars: 95% CI over seeds; grey: seeds + images)",
                   title_fontsize=6)
    else:
        ax.text(0.5, 0.5, "no ablation variants with a full baseline", ha="center", va="center",
                transform=ax.transAxes)
    grow(fig, base)
    return fig


def build_figures(arms: pd.DataFrame, history: pd.DataFrame) -> dict[str, Figure]:
    """All figures by file stem; built under the report's rc settings."""
    with matplotlib.rc_context(RC):
        figures = {
            "fig_acc_vs_params": accuracy_vs_cost(arms, "params", "Parameters"),
            "fig_acc_vs_macs": accuracy_vs_cost(arms, "macs", "MACs per image"),
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
