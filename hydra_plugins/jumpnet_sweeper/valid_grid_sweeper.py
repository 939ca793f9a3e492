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
- Skips runs whose folder already holds a completed ``metrics.json``, so
  re-running a sweep does only the unfinished work (interrupted runs resume
  from their checkpoint inside the job).
- Ends with a summary of every run of the sweep and fails (non-zero exit)
  when any of them failed, diverged or did not finish.
"""

import logging
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException

log = logging.getLogger(__name__)


@dataclass
class ValidGridSweeperConf:
    _target_: str = "hydra_plugins.jumpnet_sweeper.valid_grid_sweeper.ValidGridSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None
    arms: Optional[List[str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="valid_grid", node=ValidGridSweeperConf,
                             provider="jumpnet")


class SweepFailed(HydraException):
    """Some runs of the sweep did not complete; the others did and are kept."""


class ValidGridSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int], params: Optional[Dict[str, str]] = None,
                 arms: Optional[List[str]] = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.arms = [str(a) for a in arms or []]
        self.arguments: List[str] = []
        self.run_dirs: List[Path] = []
        self.skipped_done: List[Path] = []
        self.specs: Dict[str, Any] = {}

    def _job_config(self, overrides: Sequence[str]) -> Any:
        return self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))

    def _jobs(self, overrides: List[Override]) -> List[List[str]]:
        """Every job's overrides: the grid of ``overrides``, or the union of the arms' grids, in order, once each."""
        if not self.arms:
            return BasicSweeper.split_arguments(overrides, None)[0]
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        jobs: Dict[tuple, List[str]] = {}
        for arm in self.arms:
            try:
                lines = [*self._parse_config(), *shlex.split(arm), *self.arguments]
                grid = BasicSweeper.split_arguments(parser.parse_overrides(lines), None)[0]
            except (HydraException, ValueError) as err:
                raise HydraException(f"hydra.sweeper.arms entry {arm!r} is not a line of overrides: {err}") from err
            for job in grid:
                jobs.setdefault(tuple(sorted(job)), job)
        return list(jobs.values())

    def sweep(self, arguments: List[str]) -> Any:
        self.arguments = list(arguments)
        returns = super().sweep(arguments)
        self._summarize()
        return returns

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        from jumpnet.checks import check_run_config
        from jumpnet.network import AblationError
        from jumpnet.runfolder import run_status

        jobs = self._jobs(overrides)
        kept: List[List[str]] = []
        networks: Dict[tuple, str] = {}
        for job in jobs:
            cfg = self._job_config(job)
            try:
                check_run_config(cfg)
            except AblationError as err:
                log.warning(f"Not a valid arm, left out of the grid: {' '.join(job)} ({err})")
                continue
            except ValueError as err:  # bad input: stop before any job starts
                raise HydraException(f"Job {' '.join(job)}: {err}") from err
            same = self._same_network_as(cfg, job, networks)
            if same:
                log.info(f"Left out: {' '.join(job)} builds the same network as {same}")
                continue
            run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            self.run_dirs.append(run_dir)
            if run_status(run_dir) == "completed" and not cfg.trainer.get("overwrite", False):
                log.info(f"Already completed, skipped: {run_dir}")
                self.skipped_done.append(run_dir)
                continue
            kept.append(job)
        if not self.run_dirs:
            raise HydraException("No valid run in this sweep: every grid point was an unsupported model x ablation.")
        log.info(f"Sweep: {len(self.run_dirs)} runs, {len(self.skipped_done)} already completed, "
                 f"{len(kept)} to launch")
        if not kept:
            return []
        if max_batch_size is None:
            return [kept]
        return list(BasicSweeper.split_overrides_to_chunks(kept, max_batch_size))

    def _network(self, cfg: Any) -> str:
        """The job's network key (``ModelSpec.network_key``), a matched arm's width solved once per distinct arm."""
        import json

        from omegaconf import OmegaConf

        from jumpnet.factory import resolve_model

        key = json.dumps([OmegaConf.to_container(cfg.model, resolve=True),
                          OmegaConf.to_container(cfg.ablation, resolve=True),
                          int(cfg.data.num_classes), int(cfg.data.image_size)], sort_keys=True)
        if key not in self.specs:
            self.specs[key] = resolve_model(cfg).network_key()
        return self.specs[key]

    def _same_network_as(self, cfg: Any, job: Sequence[str], seen: Dict[tuple, str]) -> Optional[str]:
        """The earlier job that trains the identical network with everything else equal, if any."""
        rest = tuple(sorted(o for o in job if not o.startswith(("ablation=", "ablation.", "model=", "model."))))
        key = rest + (self._network(cfg),)
        if key in seen:
            return seen[key]
        seen[key] = " ".join(job)
        return None

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
            raise SweepFailed(f"{len(bad)} of {len(self.run_dirs)} runs did not complete: " + "; ".join(bad)
                              + ". Their folders hold error.txt; re-run the same command to retry only them.")
