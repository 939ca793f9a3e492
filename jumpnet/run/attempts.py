"""A run folder's earlier attempts: skip a finished one, resume an interrupted one, refuse one made with other data.

What ``jumpnet.run.pipeline.execute`` decides before it trains: a completed or
diverged run made with this data (:func:`final_record`, which the sweeper reads
too, to skip it without launching it) is kept as it is; a failed or interrupted
attempt's record moves to ``previous/<time>/`` (a name of its own, even within
one clock second: nothing is moved over an earlier record) and the run resumes
from its checkpoint (a damaged checkpoint is set aside and training restarts,
saying so), on any data when it saved no checkpoint; an attempt that failed
before it saved anything (offline, say) is simply retried, its record and
``error.txt`` replaced, not kept (retries would fill ``previous/``);
``trainer.overwrite=true`` moves the record, checkpoint and W&B run aside and
starts afresh; a folder whose record or checkpoint names other data is refused;
a folder that a config error left with nothing but Hydra's files is removed;
temp files of writers killed mid-write are removed (:func:`remove_stale_temps`).
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig

from jumpnet.atomic import stale_temp_files
from jumpnet.data import DataError
from jumpnet.run.folder import CHECKPOINT, ERROR, FINAL, METRICS, read_metrics
from jumpnet.run.predictions import PREDICTIONS
from jumpnet.run.tracking import WANDB_ID
from jumpnet.train.checkpoint import load_checkpoint, load_or_set_aside

log = logging.getLogger(__name__)
HYDRA_ONLY = (".hydra",)  # what Hydra puts in a run folder before the run starts (besides its *.log)


def refuse_other_data(run_dir: Path, recorded: str | None, data_id: str, what: str) -> None:
    """A folder whose record or checkpoint was made with other data is neither resumed nor skipped."""
    if recorded is None or recorded == data_id:
        return
    raise DataError(f"{run_dir} holds a run made with other data (its {what} says data_id={recorded!r}; this "
                    f"command reads {data_id!r}); it is neither resumed nor skipped",
                    "point data.archive / data.root at the data it was made with, or give this data its own folder "
                    "(name=... or paths.experiments_dir=...), or pass trainer.overwrite=true to train it again on "
                    "this data (the earlier attempt moves to previous/)")


def remove_unstarted_folder(run_dir: Path, experiments_dir: Path) -> None:
    """Remove a folder that holds only what Hydra wrote before the run (``.hydra/``, its log), and the empty
    folders above it inside the experiments folder: a config error leaves nothing for a report to list."""
    if not run_dir.is_dir() or not all(p.name in HYDRA_ONLY or p.suffix == ".log" for p in run_dir.iterdir()):
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    root = Path(experiments_dir).resolve()
    folder = run_dir.resolve().parent
    while folder != root and root in folder.parents and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def saved_progress(run_dir: Path) -> dict:
    """Epochs done and their history, as the checkpoint holds them (what a resume continues from): the record of
    a failed or interrupted attempt says what was saved, not how far training got before the failure."""
    try:
        state = load_checkpoint(run_dir / CHECKPOINT)
        return {"epochs": int(state["epoch"]), "history": state["history"]}
    except Exception:  # noqa: BLE001 - none yet, or unreadable: nothing saved, a resume starts from scratch
        return {"epochs": 0, "history": []}


def remove_stale_temps(run_dir: Path) -> None:
    """Remove the temp files writers killed mid-write left (``jumpnet.atomic``); only under the run's lock, where
    no writer of this folder can be alive."""
    stale = stale_temp_files(run_dir)
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info(f"Removed {len(stale)} temp file(s) a killed writer left in {run_dir}: "
                 f"{', '.join(p.name for p in stale)}")


def new_previous_folder(run_dir: Path) -> Path:
    """``previous/<time>``, or ``<time>-2``, ``-3``, ...: created here, so it is never an earlier attempt's."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (run_dir / "previous").mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        dest = run_dir / "previous" / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            dest.mkdir()
            return dest
        except FileExistsError:
            continue
    raise FileExistsError(f"{run_dir / 'previous' / stamp}-*: ten thousand attempts in one second")


def saved_nothing(run_dir: Path, earlier: dict | None) -> bool:
    """An unfinished attempt that saved no epoch (no checkpoint): retrying it loses nothing, so it is not kept."""
    return (earlier is not None and earlier.get("status") not in FINAL and not earlier.get("epochs")
            and not (run_dir / CHECKPOINT).exists())


def discard_unsaved(run_dir: Path) -> None:
    for name in (METRICS, ERROR):
        (run_dir / name).unlink(missing_ok=True)
    log.info(f"The earlier attempt in {run_dir} saved nothing: retried in place (its record is replaced)")


def archive_previous(run_dir: Path, with_checkpoint: bool) -> None:
    """Move an earlier attempt's record aside: nothing is ever lost. To start afresh (``trainer.overwrite``)
    its checkpoint and W&B run go too, so the new attempt is a new W&B run rather than the old one reopened."""
    dest = new_previous_folder(run_dir)
    fresh = (CHECKPOINT, WANDB_ID, "wandb", "weights.pt", PREDICTIONS)
    for name in (METRICS, ERROR, *fresh) if with_checkpoint else (METRICS, ERROR):
        if (run_dir / name).exists():
            shutil.move(str(run_dir / name), dest / name)
    log.info(f"Earlier attempt's record moved to {dest}")


def final_record(run_dir: Path, data_id: str | Callable[[], str]) -> dict | None:
    """The record of a completed or diverged run in ``run_dir`` made with this data, else None (no record, or an
    unfinished one).

    A record that cannot be read raises RecordUnreadable (it is never overwritten), a final one made with other data
    raises DataError (it is neither skipped nor trained over). ``data_id`` may be a function, called only when a
    final record names its data: hashing an archive is not free.
    """
    record = read_metrics(run_dir)
    if record is None or record.get("status") not in FINAL:
        return None
    if record.get("data_id") is not None:
        refuse_other_data(run_dir, record["data_id"], data_id() if callable(data_id) else data_id, METRICS)
    return record


def skip_if_final(cfg: DictConfig, run_dir: Path, data_id: str) -> dict | None:
    """The :func:`final_record` (kept as is, said so), else None; None under ``trainer.overwrite``, which trains
    it again, but only once its record is known to be readable."""
    if cfg.trainer.overwrite:
        read_metrics(run_dir)  # RecordUnreadable: a damaged record is never overwritten
        return None
    record = final_record(run_dir, data_id)
    if record is None:
        return None
    log.info(f"Already {record['status']}: {run_dir} (test_acc={record.get('test_acc')}); "
             f"kept as is. Pass trainer.overwrite=true to train it again.")
    return record


def prepare_attempt(cfg: DictConfig, run_dir: Path, data_id: str) -> tuple[dict | None, str | None]:
    """The checkpoint state to resume from (None: from scratch) and a note when a damaged one was set aside;
    an earlier attempt's record moves aside (with its checkpoint and W&B run under ``trainer.overwrite``)."""
    earlier = read_metrics(run_dir)
    if saved_nothing(run_dir, earlier):
        discard_unsaved(run_dir)
        earlier = None
    if cfg.trainer.overwrite:
        if earlier is not None or (run_dir / CHECKPOINT).exists():
            archive_previous(run_dir, with_checkpoint=True)
        resume, note = None, None
    else:
        if (run_dir / CHECKPOINT).exists():  # only trained state ties a folder to its data: an attempt that failed
            refuse_other_data(run_dir, (earlier or {}).get("data_id"), data_id, METRICS)  # before saving is retried
        resume, note = load_or_set_aside(run_dir / CHECKPOINT) if cfg.trainer.resume else (None, None)
        refuse_other_data(run_dir, (resume or {}).get("data_id"), data_id, CHECKPOINT)
        if earlier is not None:
            archive_previous(run_dir, with_checkpoint=False)  # a failed or interrupted attempt resumes
    return resume, note
