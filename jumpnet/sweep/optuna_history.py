"""Hyperparameter search bookkeeping: the Optuna study's whole history, as a table in the sweep folder.

Hydra's Optuna sweeper writes only the best trial (``optimization_results.yaml``) and keeps its
study to itself. ``conf/hparams_search/optuna.yaml`` hands it :func:`remember_study` as its
``custom_search_space`` hook (called with every trial before it runs), which keeps a reference
to the study; at the end of the multirun, :class:`OptunaHistory` writes ``optuna_trials.csv``:
one row per trial with its number, state, objective (best validation accuracy), parameters and times.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)
HISTORY = "optuna_trials.csv"
_study: Any = None  # the study of the search running in this process


def remember_study(cfg: DictConfig, trial: Any) -> None:
    """The sweeper's ``custom_search_space`` hook: adds no parameter, only notes the trial's study."""
    global _study
    _study = trial.study


class OptunaHistory(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if _study is None:
            log.warning("No Optuna study seen (is hydra.sweeper.custom_search_space "
                        "jumpnet.sweep.optuna_history.remember_study?): the search history is not written")
            return
        table = _study.trials_dataframe(attrs=("number", "state", "value", "params", "datetime_start",
                                               "datetime_complete", "duration"))
        path = Path(config.hydra.sweep.dir) / HISTORY
        table.to_csv(path, index=False)
        log.info(f"Search history ({len(table)} trials): {path}")
