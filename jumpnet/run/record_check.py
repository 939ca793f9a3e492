"""A run record, as read: checked against the typed ``RunRecord`` before any reader uses it.

``jumpnet.run.folder.read_metrics`` calls :func:`record_problem` on every ``metrics.json`` it reads, so
``status``, the report, the sweeper and a run deciding whether to skip or resume all see the same verdict. A
record is a run record when each key ``RunRecord`` knows holds a value of its type (a bool is no number, every
number is finite), an accuracy is a fraction in [0, 1], a count is not negative, the seed is in ``[0, 2**32)``,
the status is one of ``STATUSES``, a finished record holds what its status needs (a completed one its test
accuracy and loss) and each history row is an epoch's numbers. Keys ``RunRecord`` does not know are allowed, as
SPEC allows them. Otherwise the record is unreadable: named with the first thing wrong, never averaged, never
overwritten.
"""
from __future__ import annotations

import math
import types
import typing
from functools import cache
from typing import Any

from jumpnet.config.schema import SEEDS
from jumpnet.run.record import STATUSES, RunRecord

# What a record of each status must hold (not null): the values a report shows for it.
REQUIRED = {"completed": ("model", "ablation", "seed", "test_acc", "test_loss"), "diverged": ("model", "ablation",
                                                                                              "seed")}
FRACTIONS = ("test_acc", "best_val_acc", "train_acc", "val_acc")   # accuracies, in the record and its history rows
COUNTS = ("params", "flops", "macs", "epochs", "requeued", "threads", "best_epoch", "resumed_from_epoch",
          "match_target", "cudnn_version")
HISTORY_NUMBERS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s")


@cache
def _types() -> dict[str, Any]:
    return typing.get_type_hints(RunRecord)


def _words(kind: Any) -> str:
    """A type as a reader says it: ``list[int] | None`` is "a list of integers or null"."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_words(a) for a in args)
    if typing.get_origin(kind) is list:
        return "a list of " + {int: "integers", str: "strings", dict: "objects"}.get(args[0], "values")
    return {type(None): "null", bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
            dict: "an object", list: "a list"}.get(kind, str(kind))


def _fits(value: Any, kind: Any) -> bool:
    """Whether a JSON value is of a record field's type (a bool is no number; a number is finite)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is type(None):
        return value is None
    return isinstance(value, kind) if isinstance(kind, type) else True


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _range_problem(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if key in FRACTIONS and not 0 <= value <= 1:
        return f"{key}={_shown(value)} is not a fraction in [0, 1]"
    if key in COUNTS and value < 0:
        return f"{key}={_shown(value)} is negative"
    if key == "seed" and not 0 <= value < SEEDS:
        return f"seed={_shown(value)} is out of range (0 <= seed < 2**32)"
    return None


def _history_problem(history: list) -> str | None:
    """Each epoch's row: an object with its epoch (an integer from 1) and finite numbers (or null) for the rest."""
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            return f"history[{i}]={_shown(row)} is not an object"
        epoch = row.get("epoch")
        if not _fits(epoch, int) or epoch < 1:
            return f"history[{i}].epoch={_shown(epoch)} is not an epoch number (an integer from 1)"
        for key in HISTORY_NUMBERS:
            value = row.get(key)
            if not _fits(value, float | None):
                return f"history[{i}].{key}={_shown(value)} is not a finite number or null"
            problem = _range_problem(key, value)
            if problem:
                return f"history[{i}].{problem}"
    return None


def record_problem(data: Any) -> str | None:
    """Why ``data`` is not a run record (see the module docstring), or None when it is one."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not a run record (an object)"
    status = data.get("status")
    if status not in STATUSES:
        return f"status={_shown(status)} is not one of {', '.join(STATUSES)}" if "status" in data else \
            "it has no status"
    for key, kind in _types().items():
        if key not in data:
            continue
        value = data[key]
        if not _fits(value, kind):
            return f"{key}={_shown(value)} is not {_words(kind)}"
        problem = _range_problem(key, value) if key in (*FRACTIONS, *COUNTS, "seed") else None
        if problem:
            return problem
    missing = [key for key in REQUIRED.get(status, ()) if data.get(key) is None]
    if missing:
        return f"a {status} record needs {', '.join(missing)} (" + \
            ", ".join("missing" if k not in data else "null" for k in missing) + ")"
    return _history_problem(data["history"]) if "history" in data else None
