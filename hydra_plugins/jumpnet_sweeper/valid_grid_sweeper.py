"""Hydra's basic grid sweeper, made safe for an ablation study.

- ``arms`` (optional): a list of sub-grids, each a line of overrides in sweep
  syntax (``model=jumpnet model.width_mult=0.5,1,2``); the sweep is their union,
  each crossed with ``params`` and the command line (which wins over both). So
  one command can give each family its own widths, and matched arms only one.
- Drops grid points a model cannot express (e.g. ResNet v2 x concat), saying so,
  so one command sweeps ``models x variants`` and runs only the valid arms;
  and drops a job that builds the same network as an earlier one (``concat`` on
  a model whose own merge is concat is its ``full`` arm; ResNet v2's
  ``no_shortcuts`` is its ``no_links``; a matched arm whose solved width is the
  raw arm's), comparing the class, its integer widths (``width_mult`` and any
  ``ablation.match`` solved) and the resolved switches.
  The arms come from ``jumpnet.arms``, which ``make plan`` and ``make status`` share.
- Skips runs whose folder already holds a completed ``metrics.json``, so
  re-running a sweep does only the unfinished work (interrupted runs resume
  from their checkpoint inside the job).
- Ends with a summary of every run of the sweep and fails (non-zero exit)
  when any of them failed, diverged or did not finish.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.types import Override

from jumpnet.errors import ConfigError, SweepError

log = logging.getLogger(__name__)


@dataclass
class ValidGridSweeperConf:
    _target_: str = "hydra_plugins.jumpnet_sweeper.valid_grid_sweeper.ValidGridSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None
    arms: Optional[List[str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="valid_grid", node=ValidGridSweeperConf,
                             provider="jumpnet")


class SweepFailed(SweepError):
    """Some runs of the sweep did not complete; the others did and are kept."""


class ValidGridSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int], params: Optional[Dict[str, str]] = None,
                 arms: Optional[List[str]] = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.arms = [str(a) for a in arms or []]
        self.arguments: List[str] = []
        self.run_dirs: List[Path] = []
        self.skipped_done: List[Path] = []

    def _job_config(self, overrides: Sequence[str]) -> Any:
        return self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        from jumpnet.arms import enumerate_arms, grid_jobs
        from jumpnet.runfolder import run_status

        jobs = grid_jobs(self.params, self.arguments, self.hydra_context.config_loader, self.arms)
        kept: List[List[str]] = []
        for arm in enumerate_arms(jobs, self._job_config):
            if arm.kind == "bad_config":  # bad input: stop before any job starts
                err = arm.error
                raise type(err)(f"{err.message} (sweep arm: {arm.label})", err.fix) from err
            if arm.kind == "invalid":
                log.warning(f"Not a valid arm, left out of the grid: {arm.label} ({arm.reason})")
                continue
            if arm.kind == "duplicate":
                log.info(f"Left out: {arm.label} {arm.reason}")
                continue
            self.run_dirs.append(arm.run_dir)
            if run_status(arm.run_dir) == "completed" and not arm.cfg.trainer.get("overwrite", False):
                log.info(f"Already completed, skipped: {arm.run_dir}")
                self.skipped_done.append(arm.run_dir)
                continue
            kept.append(arm.overrides)
        if not self.run_dirs:
            raise ConfigError("No valid run in this sweep: every grid point was an unsupported model x ablation",
                              "see the warnings above for what each model supports")
        log.info(f"Sweep: {len(self.run_dirs)} runs, {len(self.skipped_done)} already completed, "
                 f"{len(kept)} to launch")
        if not kept:
            return []
        if max_batch_size is None:
            return [kept]
        return list(BasicSweeper.split_overrides_to_chunks(kept, max_batch_size))

    def sweep(self, arguments: List[str]) -> Any:
        self.arguments = list(arguments)  # the command line, which wins over params and arms
        returns = super().sweep(arguments)
        self._summarize()
        return returns

    def _summarize(self) -> None:
        from jumpnet.runfolder import read_metrics, run_status

        lines, bad = [], []
        for run_dir in self.run_dirs:
            status = run_status(run_dir)
            record = read_metrics(run_dir) or {}
            acc = record.get("test_acc")
            note = " (skipped: done before)" if run_dir in self.skipped_done else ""
            note += " (requeued)" if record.get("requeued") else ""
            lines.append(f"  {status:<11} {'' if acc is None else f'test_acc={acc:.4f}':<16} {run_dir}{note}")
            if status != "completed":
                bad.append(f"{run_dir} ({status})")
        log.info("Sweep summary:\n" + "\n".join(lines))
        if bad:
            raise SweepFailed(f"{len(bad)} of {len(self.run_dirs)} runs did not complete: " + "; ".join(bad),
                              "read error.txt in their folders, then re-run the same command to retry only them")
