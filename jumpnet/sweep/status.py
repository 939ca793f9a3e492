"""``make status EXP=<name>``: a read-only table of a sweep's runs, and the arms of its preset not yet started.

    python -m jumpnet.status experiments/<name>  (jumpnet/status.py)

Per run folder: status (``running`` when a process on this machine holds its
lock), epochs done/total, best validation and test accuracy, last update,
SLURM requeues; a record that is not a valid run record is ``unreadable`` and
its ``why`` says which file and what is wrong (``unreadable: <file>: <why>``).
The preset's arms come from the sweep's own ``multirun.yaml`` (the overrides it
was launched with), else from ``experiment=<name>`` (also before the sweep's
folder exists); those without a folder are listed as not started. The folder is
handed to Hydra quoted (:func:`hydra_quoted`), so any character a path can hold
is read as itself. It launches nothing and writes nothing: locks are read from
the kernel's table, never taken.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from jumpnet.paths import CONF_DIR
from jumpnet.run.folder import (
    CHECKPOINT,
    FINAL,
    METRICS,
    RecordUnreadable,
    checkpoint_progress,
    lock_holder,
    read_metrics,
    run_status,
)
from jumpnet.sweep.arms import NotAGridSweep, load_sweep

SKIP_PARTS = {"previous", ".submitit", "wandb", ".hydra"}


def run_state(run_dir: Path) -> dict:
    """What a run folder says about its run, read only."""
    run_dir = Path(run_dir)
    status, holder = run_status(run_dir), lock_holder(run_dir)
    why = None
    try:
        record = read_metrics(run_dir) or {}
    except RecordUnreadable as err:  # status "unreadable": the table shows it, the file is left alone
        record, why = {}, err.message.removesuffix("; it is left as it is")
    progress = checkpoint_progress(run_dir) if status not in FINAL else None
    if holder:
        status = "running"
    done = record.get("epochs")
    if progress:  # an unfinished run: its checkpoint knows how far it got
        done = max(done or 0, progress["epoch"])
    files = [p for p in run_dir.iterdir() if p.is_file()] if run_dir.is_dir() else []
    return {"status": status, "epochs_done": done, "holder": holder, "why": why,
            "best_val_acc": first_known(record.get("best_val_acc"), (progress or {}).get("best_val_acc")),
            "test_acc": record.get("test_acc"), "requeued": record.get("requeued"),
            "updated": max((p.stat().st_mtime for p in files), default=None)}


def first_known(*values):
    """The first value that is not None: an interrupted run's record has no best yet, its checkpoint does."""
    return next((v for v in values if v is not None), None)


def planned_epochs(run_dir: Path) -> int | None:
    """``trainer.epochs`` of the run, from the config Hydra saved in its folder."""
    try:
        return int(OmegaConf.load(Path(run_dir) / ".hydra" / "config.yaml").trainer.epochs)
    except Exception:
        return None


def run_folders(root: Path) -> list[Path]:
    """Every started run under ``root``: a folder with a record, a checkpoint or Hydra's saved config."""
    found = {p.parent for name in (METRICS, CHECKPOINT, ".hydra") for p in Path(root).rglob(name)}
    return sorted(d for d in found if not SKIP_PARTS & set(d.relative_to(root).parts))


def hydra_quoted(text: str) -> str:
    """``text`` as a quoted value of a Hydra override: read back as itself, whatever it holds (``,``, ``=``, ``ü``,
    quotes, ``${``), where an unquoted path with such characters is a syntax error or another value."""
    text = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", str(text))   # backslashes before a quote double
    text = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text).replace("${", "\\${")
    return f"'{text}'"


def is_preset(root: Path) -> bool:
    return (CONF_DIR / "experiment" / f"{Path(root).name}.yaml").exists()


def preset_overrides(root: Path) -> list[str] | None:
    """The overrides the sweep in ``root`` was launched with, pointed at ``root``; None when unknown."""
    recorded = root / "multirun.yaml"
    if recorded.exists():
        hydra = OmegaConf.load(recorded).hydra
        overrides = [*hydra.overrides.hydra, *hydra.overrides.task]
    elif is_preset(root):
        overrides = [f"experiment={root.name}"]
    else:
        return None
    return [o for o in overrides if not o.startswith("hydra.sweep.dir=")] + [f"hydra.sweep.dir={hydra_quoted(root)}"]


def shorten(names: list[str]) -> tuple[str, list[str]]:
    """The folder all ``names`` share (often the override levels, long) and the names below it."""
    parents = {str(Path(n).parent) for n in names}
    if len(parents) != 1 or parents == {"."}:  # nothing shared (or nothing at all)
        return "", names
    (prefix,) = parents
    return prefix, [Path(n).name for n in names]


def fmt_acc(value) -> str:
    return "" if value is None else f"{value:.4f}"


def status_table(root: Path) -> tuple[pd.DataFrame, list[str], str | None]:
    """The runs' table, the preset's arms not started (their folders), and a note when the preset is unknown."""
    root = Path(root)
    rows = []
    for run_dir in run_folders(root):
        state, total = run_state(run_dir), planned_epochs(run_dir)
        updated = "" if state["updated"] is None else datetime.fromtimestamp(state["updated"]).strftime(
            "%Y-%m-%d %H:%M")
        rows.append({"run": str(run_dir.relative_to(root)), "status": state["status"],
                     "epochs": f"{state['epochs_done'] or 0}/{total or '?'}",
                     "best val": fmt_acc(state["best_val_acc"]),
                     "test acc": fmt_acc(state["test_acc"]), "last update": updated,
                     "requeues": "" if state["requeued"] is None else str(state["requeued"]),
                     "why": state["why"] or ""})
    overrides = preset_overrides(root)
    if overrides is None:
        return pd.DataFrame(rows), [], f"no multirun.yaml in {root} and no conf/experiment/{root.name}.yaml: " \
                                       f"the arms not yet started are unknown"

    try:
        _, arms = load_sweep(overrides)
    except NotAGridSweep as err:
        return pd.DataFrame(rows), [], str(err)
    started = {d.resolve() for d in run_folders(root)}
    waiting = [a.name for a in arms if not a.left_out and a.run_dir.resolve() not in started]
    return pd.DataFrame(rows), waiting, None
