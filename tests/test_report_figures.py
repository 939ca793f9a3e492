"""The figures survive what the tables survive: several sweeps, runs that differ in settings, many families, a
single width, one seed, costs over a narrow or a wide range. Each case is rendered from real run folders (copies of
conftest's ``report_sweep``, changed the way a second sweep or another family would change them) with every warning
an error, and its layout is checked: no two pieces of text overlap, none leaves the figure, every seed is drawn,
a narrow cost range has a linear axis."""
from __future__ import annotations

import itertools
import json
import shutil
import warnings
from pathlib import Path

import yaml
from matplotlib.figure import Figure
from matplotlib.text import Text

from jumpnet.report import Report, build_report

SETTINGS = {"trainer.epochs": 3, "trainer.lr": 0.05, "data.crop_padding": 2}  # a second sweep's 60-character setting
FAMILIES = ["jumpnet50", "resnet_v2_110", "densenet40", "sparsenet", "plain_cnn", "resnet_v2",
            "a_family_of_ones_own_with_a_long_name"]


def copy_sweep(src: Path, dst: Path, model: str | None = None, params_scale: float = 1.0,
               settings: dict | None = None, seeds: tuple[int, ...] = (0, 1)) -> Path:
    """``src`` copied to ``dst`` as another sweep would have left it: another model name (record and config),
    parameters scaled, config fields changed, only ``seeds`` kept."""
    shutil.copytree(src, dst)
    for record_path in sorted(dst.rglob("metrics.json")):
        run_dir = record_path.parent
        record = json.loads(record_path.read_text())
        if record["seed"] not in seeds:
            shutil.rmtree(run_dir)
            continue
        config_path = run_dir / ".hydra" / "config.yaml"
        config = yaml.safe_load(config_path.read_text())
        if model:
            record["model"] = config["model"]["name"] = model
            config["model"].pop("display", None)   # the report finds conf/model/<model>.yaml's, or none
        record["params"] = round(record["params"] * params_scale)
        for key, value in (settings or {}).items():
            group, field = key.split(".")
            config[group][field] = value
        record_path.write_text(json.dumps(record))
        config_path.write_text(yaml.safe_dump(config))
    return dst


def render(dirs: list[Path], out: Path) -> Report:
    """The whole report with every warning an error (matplotlib's "constrained_layout not applied" among them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = build_report(dirs, out)
        for fig in report.figures.values():
            fig.canvas.draw()
    return report


def texts(fig: Figure) -> list[Text]:
    """Every piece of text drawn: titles, axis labels, tick labels inside the axis' view, legends, annotations."""
    shown = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or text.axes is None and text.figure is None:
            continue
        shown.append(text)
    drawn = set()
    for ax in fig.axes:
        for axis, (low, high) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
            for tick in axis.get_major_ticks():
                where = tick.get_loc()
                if low - 1e-9 * abs(low) <= where <= high + 1e-9 * abs(high):
                    drawn.add(id(tick.label1))
    ticks = {id(t.label1) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for t in [*axis.get_major_ticks(), *axis.get_minor_ticks()]}
    return [t for t in shown if id(t) not in ticks or id(t) in drawn]


def layout_problems(fig: Figure) -> list[str]:
    """Pairs of overlapping text boxes, and text outside the figure."""
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(fig)]
    problems = [f"{a!r} overlaps {b!r}" for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
                if box_a.overlaps(box_b) and box_a.intersection(box_a, box_b).width > 0.5
                and box_a.intersection(box_a, box_b).height > 0.5]
    page = fig.bbox
    problems += [f"{t!r} leaves the figure" for t, box in boxes
                 if box.x0 < page.x0 - 1 or box.y0 < page.y0 - 1 or box.x1 > page.x1 + 1 or box.y1 > page.y1 + 1]
    return problems


def check_figures(report: Report) -> None:
    for stem, fig in report.figures.items():
        assert not layout_problems(fig), (stem, layout_problems(fig)[:5])
    for stem in ("fig_acc_vs_params", "fig_acc_vs_macs"):  # every seed drawn beside its arm's mean
        ax = report.figures[stem].axes[0]
        drawn = sorted(round(float(y), 6) for line in ax.lines if line.get_label() == "_seed" for y in line.get_ydata())
        full = report.arms[(report.arms["ablation"] == "full") & report.arms["acc_mean"].notna()]
        assert drawn == sorted(round(v, 6) for d in full["seed_acc"] for v in d.values()), stem
    ax = report.figures["fig_acc_vs_params"].axes[0]
    full = report.arms[report.arms["ablation"] == "full"]["params"]
    assert ax.get_xscale() == ("linear" if full.max() / full.min() < 3 else "log")


def test_two_sweeps_that_differ_in_three_settings(report_sweep: Path, tmp_path: Path) -> None:
    other = copy_sweep(report_sweep, tmp_path / "other", settings=SETTINGS)
    report = render([report_sweep, other], tmp_path / "report")
    assert sorted(report.runs.setting_keys) == ["S1", "S2"] and len(report.runs.setting_keys["S2"]) > 50
    check_figures(report)
    titles = [ax.get_title() for ax in report.figures["fig_val_curves"].axes if ax.axison]
    assert titles == ["JumpNet S1", "JumpNet S2"]   # display name and key, never the setting's text
    readme = (report.out / "README.md").read_text()
    assert "| S2 | `trainer.epochs=3, trainer.lr=0.05, data.crop_padding=2` |" in readme


def test_many_families_at_nearly_one_cost(report_sweep: Path, tmp_path: Path) -> None:
    dirs = [report_sweep] + [copy_sweep(report_sweep, tmp_path / name, model=name, params_scale=1 + 0.001 * (i + 1))
                             for i, name in enumerate(FAMILIES)]
    report = render(dirs, tmp_path / "report")
    check_figures(report)
    legend = [t.get_text() for t in report.figures["fig_acc_vs_params"].legends[0].get_texts()]
    assert {"JumpNet", "JumpNet-50", "ResNet v2-110", "DenseNet-40", "Plain CNN (floor)"} <= set(legend)
    assert FAMILIES[-1] in legend   # no display node anywhere: its config name


def test_many_families_and_two_settings_over_two_decades_of_cost(report_sweep: Path, tmp_path: Path) -> None:
    dirs = [report_sweep, copy_sweep(report_sweep, tmp_path / "other", settings=SETTINGS)]
    dirs += [copy_sweep(d, tmp_path / f"{name}-{k}", model=name, params_scale=10.0 ** (i / 2))
             for i, name in enumerate(FAMILIES[:4], start=1) for k, d in enumerate(dirs[:2])]
    report = render(dirs, tmp_path / "report")
    check_figures(report)
    ax = report.figures["fig_acc_vs_params"].axes[0]
    low, high = ax.get_xlim()
    costs = report.arms["params"] / 1e3
    assert low < costs.min() and high > costs.max()   # padded: no point on the frame


def test_one_width_and_one_seed(report_sweep: Path, tmp_path: Path) -> None:
    one = copy_sweep(report_sweep, tmp_path / "one", seeds=(0,))
    report = render([one], tmp_path / "report")
    assert (report.arms["n"] == 1).all()
    check_figures(report)


def test_a_seed_that_diverged_beside_completed_ones_is_named_in_the_ablation_figure(report_sweep: Path,
                                                                                    tmp_path: Path) -> None:
    """A variant with one seed diverged and the others completed: its bar says "+1 diverged", never hides it."""
    sweep = copy_sweep(report_sweep, tmp_path / "div")
    (record_path,) = [p for p in sweep.rglob("metrics.json")
                      if (r := json.loads(p.read_text()))["ablation"] == "no_links" and r["seed"] == 1]
    record = json.loads(record_path.read_text())
    record.update(status="diverged", test_acc=None, test_loss=None, notes=["non-finite loss in epoch 1"])
    record_path.write_text(json.dumps(record))
    (record_path.parent / "predictions.npz").unlink(missing_ok=True)
    report = render([sweep], tmp_path / "report")
    fig = report.figures["fig_ablation_deltas"]
    assert "+1 diverged" in [t.get_text() for t in texts(fig)]
    assert not layout_problems(fig), layout_problems(fig)[:5]
