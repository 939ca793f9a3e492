"""How a sweep ended: one row per run, one per arm left out of the grid, and the exit code.

The valid-grid sweeper (``hydra_plugins/jumpnet_sweeper``) calls :func:`summarize`
once every job has run. Each run's row comes from its folder and from what its
job raised, if anything: ``completed`` (with its test accuracy), ``diverged``
(with the reason: divergence is an outcome), ``failed`` (the error, and where
its traceback is), ``not started`` (what kept it from starting: another
process holds it, its record cannot be read, its data differs, Hydra could not
write its folder). Each arm left out of the grid gets a row too, worded from the
arm's fields (:func:`left_out_row`). Any run that did not complete or diverge
ends the sweep with :class:`SweepFailed`, one ``error:`` line through
``jumpnet.errors.run_cli``.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from jumpnet.atomic import WriteError
from jumpnet.errors import JumpnetError, SweepError
from jumpnet.run.folder import FINAL, RecordUnreadable, read_metrics, run_status
from jumpnet.sweep.arms import Arm

log = logging.getLogger(__name__)


class SweepFailed(SweepError):
    """Some runs of the sweep did not complete; the others did and are kept."""


def one_line(err: BaseException) -> str:
    """An error as one line: its type and message (a project error's fix is said once, at the end of the sweep)."""
    text = " ".join(str(err.message if isinstance(err, JumpnetError) else err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def left_out_row(arm: Arm, shown: str) -> str:
    """``<shown>: <why, in a few words>`` for an arm left out of the grid (``shown``: the overrides that tell it
    apart); the arm it duplicates is named by its folder's last part, ``tiny_jumpnet-full-s0``."""
    if arm.kind == "duplicate":
        return f"{shown}: builds the same network as {Path(str(arm.duplicate_of)).name}"
    return f"{shown}: not a valid arm ({arm.reason})"


def outcome(run_dir: Path, err: BaseException | None, skipped: bool, waited: bool) -> tuple[str, str, float | None]:
    """``(status, why, test_acc)`` of one run, from its folder and what its job raised (``err``)."""
    try:
        record = read_metrics(run_dir) or {}
    except RecordUnreadable as unreadable:
        record, err = {}, err or unreadable
    status = run_status(run_dir)
    if err is not None and not isinstance(err, WriteError):  # refused before it started: the folder is as it was
        return "not started", one_line(err), None
    if err is not None:  # it ran, but its record could not be written
        status = "failed"
    notes = ["skipped: done before"] if skipped else []
    notes += ["done by another process while this sweep waited"] if waited else []
    notes += ["requeued"] if record.get("requeued") else []
    if status == "failed":
        where = run_dir / "error.txt"
        notes += [str(one_line(err) if err else record.get("error") or "failed")
                  + (f"; traceback in {where}" if where.exists() else "")]
    elif status == "diverged":
        notes += (record.get("notes") or [])[-1:]
    elif status != "completed":
        notes += [status]
    return status, "; ".join(notes), record.get("test_acc")


def summarize(run_dirs: Sequence[Path], failures: dict[Path, BaseException], skipped: Sequence[Path],
              waited: Sequence[Path], left_out: Sequence[str], interrupted: bool = False) -> None:
    """Log the summary; raise SweepFailed when a run did not complete or diverge (not after Ctrl-C: that says so)."""
    counts: dict[str, int] = {}
    lines, bad = [], []
    for run_dir in run_dirs:
        status, why, acc = outcome(run_dir, failures.get(run_dir), run_dir in skipped, run_dir in waited)
        counts[status] = counts.get(status, 0) + 1
        score = "" if acc is None else f"test_acc={acc:.4f}"
        lines.append(f"  {status:<11} {score:<16} {run_dir}" + (f" ({why})" if why else ""))
        if status not in FINAL:
            bad.append((run_dir, status))
    lines += [f"  {'left out':<11} {'':<16} {row}" for row in left_out]
    tally = ", ".join(f"{n} {s}" for s, n in counts.items())
    log.info(f"Sweep summary: {len(run_dirs)} runs ({tally})"
             + (f", {len(left_out)} arms left out of the grid" if left_out else "")
             + (" [interrupted]" if interrupted else "") + ":\n" + "\n".join(lines))
    if bad and not interrupted:
        fixes = ["read error.txt in their folders"] if any(s == "failed" for _, s in bad) else []
        fixes += ["fix what each reason says"] if any(s != "failed" for _, s in bad) else []
        raise SweepFailed(f"{len(bad)} of {len(run_dirs)} runs did not complete (the summary above says why): "
                          + "; ".join(f"{d} ({s})" for d, s in bad),
                          f"{' and '.join(fixes)}, then re-run the same command to retry only them")
