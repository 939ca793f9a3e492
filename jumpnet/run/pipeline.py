"""One run, start to finish: check, (skip | resume | train), measure, test once, record.

This is the task function behind ``run.py``. It guarantees the run-folder
contract of SPEC.md: a completed run is never retrained or overwritten unless
``trainer.overwrite=true`` (and then its old files move to ``previous/``); an
interrupted run resumes from its checkpoint; a run that raises leaves
``status: failed`` and ``error.txt``; Ctrl-C and SIGTERM leave ``status: interrupted`` with
the epochs its checkpoint holds (SIGTERM then goes on to the handler installed before,
``jumpnet.run.signals``); a non-finite loss or weights end it as ``diverged``; a tracker
that fails once the run is tested (W&B cannot stage an artifact, say) is a note and a
warning, never a failed run. The config, the archive and the device are checked before
anything is written (a folder Hydra made for a config that fails the checks is removed
again), and the data is part of the run's identity (``data_id``, ``jumpnet.data.identity``):
a folder made with other data is refused, never resumed or skipped.

The config is checked once (``jumpnet.run.spec.resolve_run``: a typed ``RunSpec``); the record is a
typed ``RunRecord`` (``jumpnet.run.record``) that each step's result is merged into, and that the stall
watchdog reads but never changes; the steps themselves are in ``jumpnet.run.steps``.
"""
from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from jumpnet.atomic import write_json_atomic, write_text_atomic
from jumpnet.data.identity import data_identity
from jumpnet.data.loaders import make_loaders
from jumpnet.errors import JumpnetError, Terminated
from jumpnet.run.attempts import (
    prepare_attempt,
    remove_stale_temps,
    remove_unstarted_folder,
    saved_progress,
    skip_if_final,
)
from jumpnet.run.folder import ERROR, METRICS, lock_run
from jumpnet.run.record import DataFacts, Fitted, Published, RunRecord, cluster_job, ended
from jumpnet.run.signals import chain, sigterm_recorded
from jumpnet.run.spec import RunSpec, check_device_visible, resolve_run
from jumpnet.run.steps import (
    claim_device,
    load_data,
    log_solve,
    make_trainer,
    measure_model,
    place,
    run_test,
    seed_everything,
    tracking,
    watchdog,
)
from jumpnet.train.checkpoint import WALL_TIME
from jumpnet.train.lottery import init_lottery

log = logging.getLogger(__name__)


def tracker_note(published: Published, what: str, err: BaseException) -> None:
    text = " ".join(str(err).split())[:400] or type(err).__name__
    note = f"W&B: {what} ({type(err).__name__}: {text}); the run's record and files are complete"
    log.warning(note)
    published.note(note)


def after_test(published: Published, what: str, call: Callable[[], None]) -> None:
    """Run a tracker call made once the run's outcome is known: its failure is a note and a warning, never the run's
    (a run that trained and tested is complete in its folder whatever W&B could store)."""
    try:
        call()
    except Exception as err:  # noqa: BLE001 - wandb raises anything (PermissionError, CommError, ValueError ...)
        tracker_note(published, what, err)


def train_and_test(spec: RunSpec, run_dir: Path, published: Published, resume: dict | None = None) -> RunRecord:
    """The run's steps in order; each returns what it found, and ``published`` merges it into the record."""
    cfg, seed = spec.cfg, spec.seed
    claimed = claim_device(spec)
    published.publish(claimed)
    log_solve(spec.model.solve)
    seed_everything(seed)
    splits = load_data(spec)
    published.publish(DataFacts(splits))
    model = spec.model.build()
    published.publish(measure_model(model, spec))
    model, channels_last = place(model, spec, claimed.device)
    published.publish(channels_last=channels_last)
    train, val, test = make_loaders(splits, cfg.data, cfg.trainer, seed, claimed.device,
                                    channels_last=channels_last)
    lottery = init_lottery(model, spec.model.build, train, cfg.trainer, cfg.optimizer, seed, run_dir,
                           resume is not None)
    published.publish(init_lottery=lottery)
    with tracking(spec, run_dir) as tracker, watchdog(spec, run_dir, published):
        def on_epoch(row: dict) -> None:
            published.publish(epochs=row["epoch"])  # the record shows progress should the run stall
            tracker.log_epoch(row)

        trainer = make_trainer(spec, model, train, val, run_dir, published.latest().data_id, on_epoch)
        published.publish(precision=trainer.precision)
        fit = trainer.fit(resume)
        record = published.publish(Fitted(fit))
        if fit.status == "completed":
            record = published.publish(run_test(trainer, test, len(splits.y_test), fit.best_epoch, run_dir))
            meta = {k: getattr(record, k) for k in ("model", "ablation", "seed", "best_epoch", "best_val_acc",
                                                    "test_acc", "params")}
            after_test(published, "the selected weights were not logged", lambda: tracker.log_weights(model, meta))
        after_test(published, "the summary was not logged", lambda: tracker.summary(published.latest().to_json()))
    if tracker.problem is not None:  # finishing the W&B run failed (its __exit__ said so, and kept the error)
        tracker_note(published, "the W&B run was not finished", tracker.problem)
    return published.latest()


def execute(cfg: DictConfig, run_dir: Path, multirun: bool = False) -> float | None:
    """Run one configuration in ``run_dir``; return its best validation accuracy (the tuning objective).

    Raises what keeps the run from starting (a config error, a busy or unreadable folder, other data) and,
    outside a multirun, what made it fail; in a multirun a failed run is recorded and the sweep goes on.
    """
    run_dir = Path(run_dir)
    try:
        spec = resolve_run(cfg)  # before anything is written: unknown keys fail even for a finished run
        check_device_visible(cfg.trainer.device)
        data_id = data_identity(cfg.data)
    except (JumpnetError, OSError):
        remove_unstarted_folder(run_dir, Path(cfg.paths.experiments_dir))
        raise
    run_dir.mkdir(parents=True, exist_ok=True)
    done = skip_if_final(cfg, run_dir, data_id)
    if done is not None:
        return done.get("best_val_acc")
    job = cluster_job()["slurm_job_id"]
    with lock_run(run_dir, f"on {socket.gethostname()}" + (f" in SLURM job {job}" if job else "")):
        done = skip_if_final(cfg, run_dir, data_id)  # another process may have finished it while this one waited
        if done is not None:
            return done.get("best_val_acc")
        remove_stale_temps(run_dir)  # no writer of this folder is alive: this process holds its lock
        resume, note = prepare_attempt(cfg, run_dir, data_id)
        return attempt(spec, run_dir, RunRecord.start(spec, data_id, note), resume, multirun)


def attempt(spec: RunSpec, run_dir: Path, record: RunRecord, resume: dict | None, multirun: bool) -> float | None:
    """Train and test under the lock; record the outcome whatever happens (Ctrl-C and a full disk included)."""
    started = time.perf_counter()
    published = Published(record)
    failure: BaseException | None = None
    outcome: dict = {}
    try:
        with sigterm_recorded():
            train_and_test(spec, run_dir, published, resume)
    except KeyboardInterrupt as err:  # Ctrl-C, and SIGTERM (Terminated)
        why = {"reason": "SIGTERM"} if isinstance(err, Terminated) else {}
        outcome = {"status": "interrupted", **why, **saved_progress(run_dir)}
        log.warning(f"{'Terminated (SIGTERM)' if why else 'Interrupted'} after {outcome['epochs']} saved epochs; "
                    f"run the same command again to resume")
        failure = err
    except Exception as err:  # noqa: BLE001 - any failure of one run is recorded, never lost
        message = err.message if isinstance(err, JumpnetError) else err  # the fix is in error.txt and on screen
        outcome = {"status": "failed", "error": f"{type(err).__name__}: {message}", **saved_progress(run_dir)}
        try:
            write_text_atomic(run_dir / ERROR, traceback.format_exc())
        except JumpnetError as write_err:
            log.error(f"{write_err}")
        failure = err
    before = float((resume or {}).get(WALL_TIME, 0.0))  # earlier attempts, up to the checkpoint this one resumed
    record = ended(published.latest(), time.perf_counter() - started, before, **outcome)
    try:
        write_json_atomic(run_dir / METRICS, record.to_json())
    except JumpnetError as write_err:  # the earlier record is intact; say so, and never hide the first error
        log.error(f"Run record not written: {write_err}")
        if failure is None or isinstance(failure, Exception) and multirun:
            raise write_err from failure
    if isinstance(failure, Terminated):
        chain(failure)  # submitit's handler, say; then the process ends by the signal (jumpnet.errors.run_cli)
    if isinstance(failure, KeyboardInterrupt) or (failure is not None and not multirun):
        if not isinstance(failure, KeyboardInterrupt):  # run.py prints the error itself, in a line
            log.error(f"Run failed (traceback in {run_dir / ERROR})")
        raise failure
    if failure is not None:
        log.error(f"Run failed: {record.error} (traceback in {run_dir / ERROR})")
    return record.best_val_acc
