"""Hyperparameter search bookkeeping: the Optuna study kept in the sweep folder, and its whole history as a table.

Hydra's Optuna sweeper keeps its study in memory unless ``storage`` names a database (and the SQLite one of the
pinned Optuna 2.10 does not run on SQLAlchemy 2), so an interrupted search would start again with a blind sampler.
The project's sweeper (``hydra_plugins/jumpnet_sweeper/resumable_optuna_sweeper.py``, ``hparams_search=optuna``)
keeps the study in :class:`JournalStorage`: Optuna's in-memory storage that appends every trial to
``<sweep>/optuna_journal.jsonl``, one JSON line when a trial's parameters are chosen (``started``, written by
:func:`remember_study`, the sweeper's ``custom_search_space`` hook) and one when it ends (``finished``: its
state, value, parameters). :func:`resume_study` replays that file into a new study: every finished trial is back,
so the sampler sees the whole history; a trial that started and never finished (the search was interrupted) is
recorded as failed (``interrupted``) and queued again with its parameters, so it runs again in its own run folder
and resumes from its checkpoint. ``hydra.sweeper.n_trials`` is the study's total: a resumed search runs what is
left, its sampler reseeded from the configured seed and the number of trials so far (:func:`reseed`: with the
seed alone it would propose the first trial's parameters again). At the end of the multirun,
:class:`OptunaHistory` writes ``optuna_trials.csv``: one row per trial with its number, state, objective (best
validation accuracy), parameters and times.
"""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from optuna.distributions import distribution_to_json, json_to_distribution
from optuna.exceptions import ExperimentalWarning
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState, create_trial

log = logging.getLogger(__name__)
HISTORY = "optuna_trials.csv"
JOURNAL = "optuna_journal.jsonl"
_study: Any = None  # the study of the search running in this process


def _entry(event: str, trial: FrozenTrial | Any) -> dict:
    return {"event": event, "number": trial.number, "params": trial.params,
            "distributions": {k: distribution_to_json(d) for k, d in trial.distributions.items()},
            "user_attrs": trial.user_attrs}


class JournalStorage(InMemoryStorage):
    """Optuna's in-memory storage, with every trial's start and end appended to a JSON-lines file."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.recording = True

    def append(self, entry: dict) -> None:
        if self.recording:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def set_trial_state(self, trial_id: int, state: TrialState) -> bool:
        changed = super().set_trial_state(trial_id, state)
        if changed and state.is_finished():
            trial = self.get_trial(trial_id)
            self.append({**_entry("finished", trial), "state": state.name, "values": trial.values})
        return changed


def _read(path: Path) -> list[dict]:
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            log.warning(f"{path}:{n} is not a JSON line (cut short by a kill?); that line is skipped")
            continue
        if isinstance(entry, dict) and entry.get("event") in ("started", "finished"):
            entries.append(entry)
    return entries


def resume_study(sweep_dir: Path, study_name: str | None, directions: list[str]) -> tuple[JournalStorage, int, int]:
    """A storage holding the study of ``sweep_dir``'s journal (a new one when there is none), how many of its
    trials have finished (the interrupted ones, queued again, not counted) and how many it holds in all."""
    global _study
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / JOURNAL
    storage = JournalStorage(path)
    study = optuna.create_study(storage=storage, study_name=study_name, directions=directions)
    entries = _read(path) if path.exists() else []
    finished = {e["number"]: e for e in entries if e["event"] == "finished"}
    started = {e["number"]: e for e in entries if e["event"] == "started"}
    storage.recording = False
    done = 0
    warnings.filterwarnings("ignore", category=ExperimentalWarning)  # add_trial, enqueue_trial: stable since 3.0
    for number in sorted({*finished, *started}):
        entry = finished.get(number) or started[number]
        distributions = {k: json_to_distribution(v) for k, v in entry["distributions"].items()}
        interrupted = number not in finished
        values = entry.get("values") if not interrupted else None
        state = TrialState.FAIL if interrupted else TrialState[entry["state"]]
        attrs = {**entry.get("user_attrs", {}), **({"interrupted": True} if interrupted else {})}
        study.add_trial(create_trial(state=state, params=entry["params"], distributions=distributions,
                                     values=values if state == TrialState.COMPLETE else None, user_attrs=attrs))
        done += not interrupted and not entry.get("user_attrs", {}).get("interrupted")
        if interrupted:
            study.enqueue_trial(entry["params"])
    storage.recording = True
    for number in sorted(set(started) - set(finished)):  # written once: the next resume does not queue it again
        trial = study.trials[number]
        storage.append({**_entry("finished", trial), "state": "FAIL", "values": None})
        log.info(f"Optuna trial {number} was interrupted: run again with its parameters {trial.params}")
    if entries:
        log.info(f"Optuna study resumed from {path}: {done} finished trials")
    _study = study
    return storage, done, len(study.trials)


def reseed(sampler: Any, seed: int | None, trials: int) -> None:
    """Give a resumed search's sampler a seed of its own, from the configured ``seed`` and the ``trials`` so far (the
    same for the same history: reproducible); a sampler seeded with ``seed`` again would repeat its first draws.
    Optuna 2.10's samplers keep their generator in ``_rng`` (TPE also in its ``_random_sampler``)."""
    if seed is None:
        return
    rng = np.random.RandomState((int(seed) * 1_000_003 + trials) % 2**32)
    for part in (sampler, getattr(sampler, "_random_sampler", None)):
        if part is not None and isinstance(getattr(part, "_rng", None), np.random.RandomState):
            part._rng = np.random.RandomState(rng.randint(2**31 - 1))


def remember_study(cfg: DictConfig, trial: Any) -> None:
    """The sweeper's ``custom_search_space`` hook: adds no parameter; notes the trial's study and, in the journal,
    that the trial started with these parameters."""
    global _study
    _study = trial.study
    storage = getattr(trial.study, "_storage", None)
    if isinstance(storage, JournalStorage):
        storage.append(_entry("started", trial))


class OptunaHistory(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if _study is None:
            log.warning("No Optuna study seen (is hydra.sweeper.custom_search_space "
                        "jumpnet.sweep.optuna_history.remember_study?): the search history is not written")
            return
        table = _study.trials_dataframe(attrs=("number", "state", "value", "params", "datetime_start",
                                               "datetime_complete", "duration", "user_attrs"))
        path = Path(config.hydra.sweep.dir) / HISTORY
        table.to_csv(path, index=False)
        log.info(f"Search history ({len(table)} trials): {path}")
