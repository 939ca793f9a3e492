"""``make plan EXP=<experiment>``: the sweep's dry run, priced before anything trains.

    python -m jumpnet.plan experiment=ablation [overrides ...] [--device-name "NVIDIA H200"]  (jumpnet/plan.py)

Every arm of the grid (the same arms the sweeper runs, ``jumpnet.sweep.arms``), one row
per arm with its seeds collapsed (``--runs``: one row per run; ``jumpnet.sweep.grouping``), with
its status (done, to run, running, failed, diverged; or left out and why), its
training compute in PFLOP (3 x forward FLOPs x training images x epochs; the
training images are the split after ``data.val_size`` and ``data.train_subset``,
less the ragged last batch each epoch drops) and its estimated time on this
device (or ``--device-name``). The estimate takes the newest ``make bench`` or
``make gpu-check`` figure of that model on a device of the same name, assumes
the arm reaches the same training TFLOP/s, and adds evaluation (validation
every epoch, test once) at one third of a training step's FLOPs per image.
Without a figure it says "no measurement for this device". The left-out arms follow,
grouped by reason; then the primary family's power; totals come last. It trains nothing
and creates no folder.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig

from jumpnet.models.cost import TRAIN_FLOPS_PER_FORWARD
from jumpnet.models.factory import ModelSpec
from jumpnet.paths import REPORTS_DIR
from jumpnet.run.hardware import device_label
from jumpnet.sweep.arms import Arm, load_sweep
from jumpnet.sweep.grouping import arm_rows, left_out_lines
from jumpnet.sweep.power import power_lines
from jumpnet.sweep.speeds import Figure, concurrency_levels, load_figures, pick
from jumpnet.sweep.status import run_state, shorten
from jumpnet.train.compile import compile_mode

KNOWN_SIZES = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000)}  # (train, test) images


def split_sizes(data: DictConfig) -> tuple[int, int, int] | None:
    """(train, val, test) images a run of ``data`` uses, or None for an unknown dataset."""
    if data.name == "synthetic":
        total_train, total_test = int(data.train_size), int(data.test_size)
    elif data.name in KNOWN_SIZES:
        total_train, total_test = KNOWN_SIZES[data.name]
    else:
        return None
    val = int(data.val_size)
    train = max(0, total_train - val)
    if data.get("train_subset") is not None:
        train = min(train, int(data.train_subset))
    test = total_test if data.get("test_subset") is None else min(total_test, int(data.test_subset))
    return train, val, test


def train_images_per_epoch(train: int, batch_size: int) -> int:
    """Images one epoch trains on: the ragged last batch is dropped (static shapes)."""
    return train if train <= batch_size else train // batch_size * batch_size


class ForwardFlops:
    """Forward FLOPs per image of each distinct network (``ModelSpec.network_key``), counted once: seeds and
    arms that build the same network share it, and so does the width solve that built it (``cost.COSTS``). The
    arm's spec was checked (and a matched width solved) when the arms were enumerated, so nothing is checked or
    solved again here."""

    def __call__(self, model: ModelSpec) -> int:
        return model.costs("flops")


def arm_device(cfg: DictConfig, device_name: str | None) -> str:
    """The name of the device this arm would train on here (or the one asked for)."""
    if device_name:
        return device_name
    setting = cfg.trainer.device
    cuda = setting == "cuda" or (setting == "auto" and torch.cuda.is_available())
    return device_label("cuda" if cuda else "cpu", cfg.trainer.get("threads") or None)


def status_label(state: dict, epochs: int, overwrite: bool) -> str:
    status, done = state["status"], state["epochs_done"]
    if status == "completed":
        return "to run (overwrite)" if overwrite else "done"
    if status == "running":
        return f"running (epoch {done or 0}/{epochs})"
    if status == "failed":
        return "failed (retried by the next sweep)"
    if status == "interrupted" and done:
        return f"to run (resumes after epoch {done})"
    return {"diverged": "diverged", "new": "to run"}.get(status, f"to run ({status})")


def fmt_pflop(value: float | None) -> str:
    """Three significant digits: 14.2 for a paper-schedule arm, 0.00712 for a smoke arm."""
    return "" if value is None or pd.isna(value) else f"{value:.3g}"


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def price_arm(arm: Arm, flops: ForwardFlops, figures: list[Figure], device_name: str | None) -> dict:
    cfg, t = arm.cfg, arm.cfg.trainer
    epochs = int(t.epochs)
    state = run_state(arm.run_dir)
    label = status_label(state, epochs, bool(t.get("overwrite", False)))
    left = 0 if label in ("done", "diverged") else epochs - min(epochs, state["epochs_done"] or 0)
    if label == "to run (overwrite)":
        left = epochs
    sizes, fwd = split_sizes(cfg.data), flops(arm.spec.model)
    row = {"arm": arm.name, "status": label, "epochs": epochs,
           "PFLOP": None, "est. time": "", "_pflop": 0.0, "_left_pflop": 0.0, "_s": None, "_left_s": None}
    if sizes is None:
        row["est. time"] = f"unknown dataset {cfg.data.name!r}: no PFLOP"
        return row
    train, val, test = sizes
    per_epoch = train_images_per_epoch(train, int(t.batch_size))
    pflop = TRAIN_FLOPS_PER_FORWARD * fwd * per_epoch * epochs / 1e15
    row.update({"PFLOP": pflop, "_pflop": pflop, "_left_pflop": pflop * left / epochs})
    device = arm_device(cfg, device_name)
    figure = pick(figures, device, cfg.model.name, bool(t.get("fast", True)), compile_mode(t.get("compile")))
    if figure is None:
        on_device = any(f.device == device for f in figures)
        row["est. time"] = f"no measurement of {cfg.model.name} on {device}" if on_device else \
            "no measurement for this device"
        return row
    img_s = figure.tflops * 1e12 / (TRAIN_FLOPS_PER_FORWARD * fwd)  # the arm at the measured model's TFLOP/s
    seconds = epochs * per_epoch / img_s + (epochs * val + test) / (TRAIN_FLOPS_PER_FORWARD * img_s)
    row.update({"est. time": fmt_time(seconds), "_s": seconds, "_left_s": seconds * left / epochs, "_device": device})
    return row


def plan(overrides: list[str], device_name: str | None = None, reports: Path = REPORTS_DIR, runs: bool = False) -> str:
    """The plan as text: the arms' table (one row per arm, its seeds collapsed; ``runs``: one row per run), the
    left-out grid points (grouped by reason; ``runs``: one line each), power, totals."""
    master, arms = load_sweep(overrides)
    figures, flops = load_figures(reports), ForwardFlops()
    kept = [a for a in arms if not a.left_out]
    rows = [price_arm(a, flops, figures, device_name) for a in kept]
    df = pd.DataFrame(rows)
    out = [f"Plan of {master.name} ({len(arms)} grid points: {len(kept)} runs to keep, "
           f"{len(arms) - len(kept)} left out) in {master.hydra.sweep.dir}"]
    prefix, _ = shorten([a.name for a in arms])
    if prefix:  # the override levels every arm shares: said once, not on every row
        out[0] += f", all in {prefix}/"
        if rows:
            df["arm"] = df["arm"].map(lambda name: Path(name).name)
    if rows:
        shown = df[["arm", "status", "epochs", "PFLOP", "est. time"]].rename(columns={"arm": "run"})
        shown["PFLOP"] = shown["PFLOP"].map(fmt_pflop)
        shown["epochs"] = shown["epochs"].astype(str)
        if not runs:
            shown = arm_rows(shown, [int(a.cfg.seed) for a in kept]).rename(
                columns={"PFLOP": "PFLOP per run", "est. time": "est. time per run"})
        out.append(shown.to_markdown(index=False, disable_numparse=True,
                                     colalign=["left"] * (len(shown.columns) - 3) + ["right"] * 3))
    left_out = [a for a in arms if a.left_out]
    if left_out:
        out.append(f"\nLeft out ({len(left_out)}):")
        strip = (lambda text: text.replace(prefix + "/", "")) if prefix else (lambda text: text)
        out += [f"  {strip(a.name)}: {strip(a.why)}" for a in left_out] if runs else left_out_lines(left_out, strip)
    power = power_lines(master, kept)  # the primary family's detectable difference and seeds (jumpnet.sweep.power)
    out += ["", *power] if power else []
    out += ["", *totals(df, device_name, reports)] if rows else ["", "Totals: nothing to run."]
    return "\n".join(out)


def totals(df: pd.DataFrame, device_name: str | None, reports: Path) -> list[str]:
    kinds = df["status"].str.split(" ").str[0].replace("to", "to run").value_counts()
    counts = ", ".join(f"{kinds[k]} {k}" for k in ("done", "to run", "running", "failed", "diverged") if k in kinds)
    lines = [f"Totals: {len(df)} runs ({counts}).",
             f"Training compute: {fmt_pflop(df['_pflop'].sum())} PFLOP in all, "
             f"{fmt_pflop(df['_left_pflop'].sum())} PFLOP still to run."]
    timed = df["_s"].notna()
    if not timed.any():
        lines.append("Estimated time: no measurement for this device (run `make bench` or `make gpu-check` on it).")
        return lines
    note = "" if timed.all() else f" (for the {timed.sum()} of {len(df)} runs with a measurement)"
    lines.append(f"Estimated time on {df.loc[timed, '_device'].iloc[0]}: {fmt_time(df['_s'].sum())} in all, "
                 f"{fmt_time(df['_left_s'].sum())} still to run, one run at a time{note}.")
    levels = concurrency_levels(df.loc[timed, "_device"].iloc[0], reports)
    if levels:
        best = max(levels, key=levels.get)
        lines.append(f"With trainer.runs_per_gpu={best} (gpu-check measured {levels[best]:.2f}x aggregate for "
                     f"JumpNet): about {fmt_time(df['_left_s'].sum() / levels[best])} still to run per GPU.")
    return lines
