"""How the numbers were made, stated once: the README's Setup block (:func:`setup_items`) and its one-sentence
version that ends every LaTeX caption (:func:`compact`); and which data a run was measured on (``data_key``: an
arm never mixes data).

A 2-epoch run on a 2,000-image slice must never read as "CIFAR-10": the block states the data set and copy, the
train/val/test sizes (after ``data.val_size``, ``data.train_subset``, ``data.test_subset``), the schedule, the
optimizer, augmentation, the selection rule, seeds, hardware, commit and dirty flag and versions, all from the runs'
configs and records; where runs differ in an item it says so and splits it (by setting key, else by model).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATA_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "synthetic": "synthetic data"}
# Images in each dataset's full training split (the test split's size comes from the predictions or the config).
TRAIN_IMAGES = {"cifar10": 50_000, "cifar100": 50_000}
TEST_IMAGES = {"cifar10": 10_000, "cifar100": 10_000}


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


def train_images(common: dict[str, Any]) -> int | None:
    """Training images per epoch's pool: the dataset's training split less ``data.val_size``, or the slice
    ``data.train_subset`` takes of it; None where the runs differ or the dataset is unknown."""
    name = common.get("data.name")
    total = common.get("data.train_size") if name == "synthetic" else TRAIN_IMAGES.get(str(name))
    if total is None or "data.val_size" not in common:
        return None
    train = int(total) - int(common["data.val_size"])
    subset = common.get("data.train_subset")
    return min(train, int(subset)) if subset is not None and not pd.isna(subset) else train


def tested_images(completed: pd.DataFrame, common: dict[str, Any], counted: int | None) -> int | None:
    """The test split's size: from the runs' predictions, else the config (a subset, synthetic data, CIFAR)."""
    if counted:
        return counted
    subset = common.get("data.test_subset")
    if subset is not None and not pd.isna(subset):
        return int(subset)
    name = common.get("data.name")
    return common.get("data.test_size") if name == "synthetic" else TEST_IMAGES.get(str(name))


def width_changes(arms: pd.DataFrame) -> str:
    """Which arms build other widths than their ``full`` arm: matched arms (solved width) and arms whose head sees
    fewer channels (DenseNet/SparseNet ``add`` and ``no_links`` run the learner at the growth rate's width)."""
    notes = []
    for _, arm in arms[arms["ablation"] != "full"].iterrows():
        built = arm.get("match_width_mult")
        ref = arms[(arms["model"] == arm["model"]) & (arms["width"] == arm["width"])
                   & (arms["setting"] == arm["setting"]) & (arms["ablation"] == "full")]
        fmap, ref_fmap = arm.get("feature_map"), ref["feature_map"].iloc[0] if len(ref) else None
        changed = (built is not None and not pd.isna(built) and abs(float(built) - float(arm["width"])) > 1e-9) \
            or (fmap and ref_fmap and fmap != ref_fmap)
        if changed:
            notes.append(f"{arm['model']} {arm['ablation']}")
    return ", ".join(dict.fromkeys(notes))


def data_key(data_id: object, name: object, archive: object, test_subset: object) -> str:
    """What a run was measured on: its ``data_id`` (an archive's SHA-256, a torchvision dataset, what makes the
    synthetic images; the folder torchvision reads from does not change the images), and its test subset.
    Runs recorded before ``data_id``: the dataset and archive file named in their config."""
    if isinstance(data_id, str) and data_id:
        key = data_id.split(" (torchvision) in ")[0] + " (torchvision)" if " (torchvision) in " in data_id \
            else data_id
    else:
        key = f"{name} ({Path(str(archive)).name})" if given(archive) else f"{name}"
    return key + (f", test subset {int(test_subset)}" if given(test_subset) else "")


def data_label(key: str, archive: object) -> str:
    """A short name for a data key: the archive's file name and its hash's first digits, the torchvision dataset,
    or ``synthetic`` and a digest of what generates it."""
    base, _, subset = key.partition(", test subset ")
    if base.startswith("sha256:"):
        name = (Path(str(archive)).name if given(archive) else "archive") + f"@{base[7:15]}"
    elif base.endswith(" (torchvision)"):
        name = base
    else:
        name = base.split(":")[0].split(" (")[0] + "@" + hashlib.sha256(base.encode()).hexdigest()[:8]
    return name + (f" (test subset {subset})" if subset else "")


def given(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and str(value) not in ("", "None")


# The setup block: how the numbers were made, one item per line; where runs differ in an item it is split.
SELECTION = {True: "weights of the epoch with the best validation accuracy, tested once",
             False: "the last epoch's weights, tested once (no validation split)"}


def _get(row: dict, key: str, default: Any = None) -> Any:
    value = row.get(key, default)
    return default if not given(value) else value


def _short(target: object) -> str:
    return str(target).rsplit(".", 1)[-1] if given(target) else "?"


def _data(row: dict) -> str:
    name = _get(row, "data.name", "unknown data")
    label = DATA_LABELS.get(str(name), str(name))
    archive = _get(row, "data_archive") or _get(row, "data.archive")
    if archive and not str(archive).startswith("$"):
        label += f" ({Path(str(archive)).name})"
    return label


def _splits(row: dict) -> str:
    train = train_images(row)
    val = int(_get(row, "data.val_size", 0))
    test = tested_images(pd.DataFrame(), row, None)
    subset = _get(row, "data.test_subset")
    return (f"train {train:,}" if train is not None else "train ?") + f", val {val:,}, " + \
        (f"test {int(test):,}" if test else "test ?") + (" (stratified test subset)" if subset else "")


def _schedule(row: dict) -> str:
    warm = float(_get(row, "trainer.warmup_epochs", 0) or 0)
    stop = _get(row, "trainer.early_stopping")
    return (f"{_get(row, 'trainer.epochs', '?')} epochs, {_get(row, 'trainer.schedule', '?')}"
            + (f", warm-up {warm:g} epochs" if warm else "") + (f", early stopping after {stop}" if stop else ""))


def _optimizer(row: dict) -> str:
    extra = [f"momentum {_get(row, 'optimizer.momentum')}" if _get(row, "optimizer.momentum") is not None else "",
             "Nesterov" if _get(row, "optimizer.nesterov") else ""]
    smooth = float(_get(row, "trainer.label_smoothing", 0) or 0)
    return ", ".join(p for p in [f"{_short(_get(row, 'optimizer._target_'))} lr {_get(row, 'trainer.lr', '?')}",
                                 *extra, f"weight decay {_get(row, 'trainer.weight_decay', '?')}",
                                 f"batch {_get(row, 'trainer.batch_size', '?')}",
                                 f"label smoothing {smooth:g}" if smooth else ""] if p)


def _augment(row: dict) -> str:
    pad, flip = int(_get(row, "data.crop_padding", 0) or 0), bool(_get(row, "data.flip", False))
    parts = [f"random crop (padding {pad})" if pad else "", "horizontal flip" if flip else ""]
    return " + ".join(p for p in parts if p) or "none"


def _hardware(row: dict) -> str:
    device = _get(row, "gpu") or _get(row, "device", "?")
    return str(device) + (f", {_get(row, 'precision')}" if _get(row, "precision") else "")


def _code(row: dict) -> str:
    sha, dirty = _get(row, "git_sha"), _get(row, "git_dirty")
    state = " (uncommitted changes)" if dirty is True else " (clean)" if dirty is False else " (dirty: unknown)"
    return (str(sha)[:10] + state) if sha else "unknown"


def _versions(row: dict) -> str:
    parts = [f"Python {_get(row, 'python_version')}" if _get(row, "python_version") else "",
             f"torch {_get(row, 'torch_version')}" if _get(row, "torch_version") else "",
             f"torchvision {_get(row, 'torchvision_version')}" if _get(row, "torchvision_version") else "",
             f"CUDA {_get(row, 'cuda_version')}" if _get(row, "cuda_version") else ""]
    return ", ".join(p for p in parts if p) or "unknown"


ITEMS = {"Data": _data, "Splits": _splits, "Schedule": _schedule, "Optimizer": _optimizer, "Augmentation": _augment,
         "Selection": lambda r: SELECTION[int(_get(r, "data.val_size", 0)) > 0], "Hardware": _hardware,
         "Code": _code, "Versions": _versions}


def setup_items(done: pd.DataFrame) -> dict[str, str]:
    """Each setup item in words: one value where every completed run shares it, else split by setting key (``S1:
    ...; S2: ...``) or by model where that makes each part one value, else every value with its count of runs.

    ``done``: one row per completed run, with its record's scalars and its flat config (``exports.run_table``).
    """
    rows = done.to_dict("records")
    items: dict[str, str] = {}
    for label, describe_item in ITEMS.items():
        values = pd.Series([describe_item(r) for r in rows], index=done.index, dtype=object)
        items[label] = split(values, done)
    seeds = done.groupby([c for c in ("model", "width", "setting", "ablation") if c in done], observed=True)["seed"]
    seed_sets = {", ".join(map(str, sorted(set(map(int, s.dropna()))))) for _, s in seeds}
    items["Seeds"] = (f"{seed_sets.pop()} (every arm)" if len(seed_sets) == 1 else
                      "differ between arms: " + "; ".join(sorted(seed_sets)) + " (Table 2's n)")
    return items


def split(values: pd.Series, done: pd.DataFrame) -> str:
    if values.nunique() <= 1:
        return str(values.iloc[0]) if len(values) else "?"
    for column in ("setting_key", "model_name"):
        if column in done and done[column].nunique() > 1:
            parts = values.groupby(done[column].astype(str), sort=True).agg(lambda v: v.unique().tolist())
            if parts.map(len).eq(1).all():
                return "differs: " + "; ".join(f"{k}: {v[0]}" for k, v in parts.items())
    counts = values.value_counts()
    return "differs: " + "; ".join(f"{v} ({n} runs)" for v, n in counts.items())


def compact(items: dict[str, str]) -> str:
    """The setup in one sentence, for every LaTeX caption."""
    keys = ("Data", "Splits", "Schedule", "Optimizer", "Augmentation", "Selection", "Seeds", "Hardware", "Code")
    short = {**items, "Selection": items.get("Selection", "").split(",")[0]}   # "weights of the epoch with the best..."
    return "Setup: " + "; ".join(f"{k.lower()} {short[k]}" for k in keys if k in items) + "."


def setup_section(items: dict[str, str], setting_keys: dict[str, str]) -> list[str]:
    """The README's section "Setup": the table of items, and what each setting key stands for."""
    lines = ["## Setup", "", "How every number below was made (from the runs' configs and records); where runs "
             "differ in an item it says so and splits.", "", "| item | value |", "|---|---|",
             *(f"| {k} | {v} |" for k, v in items.items()), ""]
    if setting_keys:
        lines += ["Settings (runs of one model and variant that differ in a config field, kept apart; figures and "
                  "Table 3 name them by key):", "", "| key | setting |", "|---|---|",
                  *(f"| {k} | `{s}` |" for k, s in setting_keys.items()), ""]
    return lines
