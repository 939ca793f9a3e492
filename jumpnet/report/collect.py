"""Find run folders and load them into pandas frames.

A report must never drop a run silently, so collection keeps every folder that
looks like a run (``metrics.json``, ``checkpoint.pt`` or ``.hydra/``), and only
the tables filter to completed runs; the rest are listed in the report.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from jumpnet.config.choices import STUDY_MODELS
from jumpnet.config.naming import ablation_label, is_neutral
from jumpnet.config.schema import SEEDS
from jumpnet.report.display import Display, displays
from jumpnet.report.setup import data_key, data_label, given
from jumpnet.run.folder import RecordUnreadable, read_metrics

METRICS = "metrics.json"
MARKERS = ("metrics.json", "checkpoint.pt", ".hydra")
VARIANT_ORDER = ["full", "no_links", "no_links_matched", "no_links_matched_macs", "add", "add_matched",
                 "add_matched_macs", "concat", "no_residual", "no_shortcuts", "head_fc", "head_gap"]
# Config keys a run's own columns show (model, ablation, width) or that name the sweep; the keys that say where or how
# a run was launched, not what it measured, are the schema's neutral ones (jumpnet.config.naming.is_neutral).
SHOWN_ELSEWHERE = {"name", "model.name", "ablation.name", "model.width_mult"}


@dataclass
class Runs:
    """Every run found: ``runs`` has one row per run folder, ``history`` one row per run and epoch."""

    runs: pd.DataFrame
    history: pd.DataFrame
    config_columns: list[str]  # config fields that vary between runs
    setting_columns: list[str]  # ... of which vary within one model x variant cell (kept apart in tables)
    # ``width``: each run's model.width_mult (1.0 where a run predates it): the budget, its own column
    dirs: list[Path]
    common: dict[str, Any] = field(default_factory=dict)  # config values every completed run shares (the recipe)
    primary: list[str] = field(default_factory=list)       # plan.primary of the runs' presets (their union)
    budgets: list[float] = field(default_factory=list)     # plan.budgets: the budgets widths were solved for
    configs: pd.DataFrame = field(default_factory=pd.DataFrame)  # every run's flat config (``run_dir`` beside it)
    displays: dict[str, Display] = field(default_factory=dict)   # model -> how tables and figures show it
    setting_keys: dict[str, str] = field(default_factory=dict)   # short key (S1, S2, ...) -> the setting it stands for

    @property
    def completed(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "completed"]

    @property
    def problems(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != "completed"]


def find_run_dirs(roots: list[Path]) -> list[Path]:
    """Folders under ``roots`` (or a root itself) holding a run's record, checkpoint or Hydra config."""
    found: set[Path] = set()
    for root in roots:
        for marker in MARKERS:
            for path in [root / marker, *root.rglob(marker)]:
                parts = path.relative_to(root).parts
                if path.exists() and "wandb" not in parts and "previous" not in parts:  # earlier attempts
                    found.add(path.parent)
    return sorted(found)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config to dotted keys; lists become their JSON text so they can be compared and grouped."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else value
    return flat


def read_config(run_dir: Path) -> tuple[dict[str, Any], str | None]:
    """The run's flat ``.hydra/config.yaml``, and why it could not be read (then ``{}``): a report never fails on it."""
    path = run_dir / ".hydra" / "config.yaml"
    if not path.exists():
        return {}, None
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        return {}, f"unreadable: {path}: {' '.join(str(err).split())[:200]}"
    return (flatten(config), None) if isinstance(config, dict) else ({}, f"unreadable: {path}: not a mapping")


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _seed(value: Any) -> int | None:
    """A seed as a report can sort and print it: an integer in the range a run accepts, else unknown."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < SEEDS
    return value if ok else None


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """One run's scalar metrics, flat config and epoch history; an unreadable record counts as unfinished.

    The record is read through ``jumpnet.run.folder.read_metrics``, which validates it against the typed run
    record: one that fails is ``unreadable``, its ``error`` the file and why, and its model, variant and seed come
    from its config (when they are values a report can show), never from the record.
    """
    config, config_problem = read_config(run_dir)
    label = ablation_label({k.split(".", 1)[1]: v for k, v in config.items() if k.startswith("ablation.")})
    fallback = {"model": _name(config.get("model.name")), "ablation": label, "seed": _seed(config.get("seed"))}
    try:
        record: dict[str, Any] = read_metrics(run_dir) or {**fallback, "status": "unfinished"}
    except RecordUnreadable as err:
        record = {**fallback, "status": "unreadable", "error": err.message.removesuffix("; it is left as it is")}
    history = record.pop("history", None) or []
    if record.get("status") == "diverged" and record.get("notes"):
        record.setdefault("error", f"diverged: {record['notes'][-1]}")  # why, in the list of runs left out
    fmap = record.pop("feature_map", None)
    if fmap:
        record["feature_map"] = " x ".join(str(int(v)) for v in fmap)
    error = record.get("error") or config_problem or _read_error(run_dir)
    if error:
        text = " ".join(str(error).split()) if str(error).startswith("unreadable: ") else \
            str(error).strip().splitlines()[-1][:200] if str(error).strip() else None
        record["error"] = text
    scalars = {k: v for k, v in record.items()
               if k != "run_dir" and (v is None or isinstance(v, (str, int, float, bool)))}
    return scalars, config, history


def _read_error(run_dir: Path) -> str | None:
    path = run_dir / "error.txt"
    try:
        return path.read_text(errors="replace") if path.exists() else None
    except OSError as err:
        return f"{path}: {err.strerror}"


def ordered(values: pd.Series, order: list[str]) -> pd.Categorical:
    """An ordered Categorical: the study's order first, any other names after it, alphabetically."""
    names = [str(v) for v in values.dropna().unique()]
    extra = sorted(n for n in names if n not in order)
    categories = [*[o for o in order if o in names], *extra]
    return pd.Categorical(values.astype("string").astype(object), categories=categories, ordered=True)


def collect(roots: list[str | Path]) -> Runs:
    """Load every run under ``roots``; config fields that differ between runs become columns."""
    dirs = [Path(r) for r in roots]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise SystemExit(f"jumpnet.report: no such folder: {', '.join(missing)}")
    rows, configs, histories = [], [], []
    for run_dir in find_run_dirs(dirs):
        scalars, config, history = load_run(run_dir)
        rows.append({"run_dir": str(run_dir), **scalars})
        configs.append(config)
        histories += [{"run_dir": str(run_dir), **h} for h in history]
    runs = pd.DataFrame(rows, columns=["run_dir", "model", "ablation", "seed", "status"] if not rows else None)
    cfg = pd.DataFrame(configs, index=runs.index)
    keep = [c for c in cfg.columns
            if not is_neutral(c) and c not in SHOWN_ELSEWHERE and c not in runs.columns]
    varying = [c for c in keep if cfg[c].map(str).nunique() > 1]
    runs = pd.concat([runs, cfg[varying]], axis=1)
    runs["width"] = _widths(cfg, runs)
    runs["model"] = ordered(runs["model"], list(STUDY_MODELS))
    runs["ablation"] = _variant_labels(runs, [c for c in varying if c.startswith("ablation.")])
    runs = runs.assign(**_data_columns(cfg, runs))
    setting = _setting_columns(runs, [c for c in varying if not c.startswith("ablation.")])
    if runs["data_key"].nunique() > 1:  # an arm never mixes data: runs on other data are other arms
        setting.append("data")
    runs["setting"] = runs.apply(lambda r: ", ".join(f"{c}={r[_SETTING_VALUE.get(c, c)]}" for c in setting),
                                 axis=1) if setting else ""
    keys = {s: f"S{i}" for i, s in enumerate(sorted(runs["setting"].dropna().unique(), key=natural), start=1)} \
        if setting else {}
    runs["setting_key"] = runs["setting"].map(keys).fillna("") if setting else ""
    runs["setting"] = ordered(runs["setting"], list(keys) or [""])   # S1, S2, ... in every table and figure
    shown = displays(cfg, [str(m) for m in runs["model"].cat.categories])
    for column, part in (("model_name", "name"), ("model_color", "color"), ("model_marker", "marker")):
        runs[column] = [getattr(shown[str(m)], part) if str(m) in shown else str(m) for m in runs["model"]]
    hist = pd.DataFrame(histories)
    if not hist.empty:
        hist = hist.merge(runs[["run_dir", "model", "width", "ablation", "seed", "status", "setting", *LABELS]],
                          on="run_dir")
    common = _common(cfg[runs["status"].eq("completed")])
    configs = cfg.assign(run_dir=runs["run_dir"])
    runs = runs.sort_values(["model", "width", "ablation", "seed"]).reset_index(drop=True)
    return Runs(runs, hist, varying, setting, dirs, common=common, primary=_declared(cfg, "plan.primary"),
                budgets=sorted({float(b) for b in _declared(cfg, "plan.budgets")}), configs=configs,
                displays=shown, setting_keys={k: s for s, k in keys.items()})


LABELS = ["model_name", "model_color", "model_marker", "setting_key"]  # how an arm is printed and drawn


def natural(text: str) -> list:
    """A sort key that reads numbers as numbers: ``trainer.epochs=5`` before ``trainer.epochs=10``."""
    return [(0, float(part), "") if part and part[0].isdigit() else (1, 0.0, part)
            for part in re.split(r"(\d+(?:\.\d+)?)", str(text))]


_SETTING_VALUE = {"data": "data_label"}  # setting name -> the column that prints it


def _common(cfg: pd.DataFrame) -> dict[str, Any]:
    """The config values every completed run shares: the recipe a caption states."""
    return {c: cfg[c].dropna().iloc[0] for c in cfg.columns
            if cfg[c].notna().any() and cfg[c].dropna().map(str).nunique() == 1}


def _declared(cfg: pd.DataFrame, key: str) -> list:
    """The union of a list-valued config field over the runs (flattened configs hold lists as JSON text)."""
    found: list = []
    for text in cfg[key].dropna().unique() if key in cfg else []:
        found += [v for v in json.loads(text) if v not in found]
    return found


def _widths(cfg: pd.DataFrame, runs: pd.DataFrame) -> pd.Series:
    """``model.width_mult`` of each run: from its record, else its config, else 1.0 (runs from before the knob)."""
    width = pd.Series(np.nan, index=runs.index)
    if "width_mult" in runs:
        width = pd.to_numeric(runs["width_mult"], errors="coerce")
    if "model.width_mult" in cfg:
        width = width.fillna(pd.to_numeric(cfg["model.width_mult"], errors="coerce"))
    return width.fillna(1.0).astype(float)


def _variant_labels(runs: pd.DataFrame, ablation_fields: list[str]) -> pd.Categorical:
    """The ablation preset's name, plus ``[field=value]`` for ablation fields set apart from the preset.

    ``ablation=add ablation.match=params`` is not ``add``: such runs get their own label (and so their own
    row, compared with ``full``), never averaged into the preset's.
    """
    names = runs["ablation"].astype("string").astype(object)
    cells = runs.groupby(names, dropna=False)
    extra = [c for c in ablation_fields if (cells[c].agg(lambda s: s.map(str).nunique()) > 1).any()]
    if extra:
        names = names.where(names.isna(), names.astype(str) + runs.apply(
            lambda r: "".join(f" [{c.removeprefix('ablation.')}={r[c]}]" for c in extra), axis=1))
    return ordered(pd.Series(names, index=runs.index), VARIANT_ORDER)


def _data_columns(cfg: pd.DataFrame, runs: pd.DataFrame) -> dict[str, pd.Series]:
    """The data set, archive and test subset of each run: table captions must say which copy was used.

    The archive comes from the run record where it has one: ``.hydra/config.yaml`` keeps interpolations
    such as ``${oc.env:JUMPNET_DATA_ARCHIVE,null}`` unresolved, the record holds the path actually read.
    """
    columns = {col: cfg[key] if key in cfg else pd.Series(None, index=cfg.index, dtype=object)
               for col, key in (("data_name", "data.name"), ("data_archive", "data.archive"),
                                ("data_test_subset", "data.test_subset"), ("num_classes", "data.num_classes"))}
    if "data_archive" in runs:
        columns["data_archive"] = runs["data_archive"].where(runs["data_archive"].notna(), None)
    columns["num_classes"] = pd.to_numeric(columns["num_classes"], errors="coerce").fillna(10)
    ids = runs["data_id"] if "data_id" in runs else pd.Series(None, index=runs.index, dtype=object)
    known = {data_key(i, None, None, None) for i in ids if given(i)}
    if len(known) == 1:  # a run without a data_id (no record yet, or recorded before them) is on the one data found
        ids = ids.where(ids.map(given), next(iter(known)))
    keys = [data_key(i, n, a, t) for i, n, a, t in
            zip(ids, columns["data_name"], columns["data_archive"], columns["data_test_subset"])]
    columns["data_key"] = pd.Series(keys, index=runs.index, dtype=object)
    columns["data_label"] = pd.Series([data_label(k, a) for k, a in zip(keys, columns["data_archive"])],
                                      index=runs.index, dtype=object)
    return columns


def _setting_columns(runs: pd.DataFrame, varying: list[str]) -> list[str]:
    """Varying config fields that still differ within one model x variant cell (other than the seed).

    Runs that differ in such a field (say, epochs) must not be averaged together.
    """
    cells = runs.groupby(["model", "width", "ablation"], observed=True)
    return [c for c in varying if c != "seed" and (cells[c].agg(lambda s: s.map(str).nunique()) > 1).any()]
