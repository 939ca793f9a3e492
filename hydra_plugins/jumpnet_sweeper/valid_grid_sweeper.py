"""Hydra's basic grid sweeper, made safe for an ablation study.

- Drops grid points a model cannot express (e.g. ResNet v2 x concat), saying so,
  so one command sweeps ``models x variants`` and runs only the valid arms;
  and drops a variant that builds the same network as another in the grid
  (``concat`` on a model whose own merge is concat is its ``full`` arm).
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

from jumpnet.errors import AblationError, ConfigError, JumpnetError, SweepError

log = logging.getLogger(__name__)


@dataclass
class ValidGridSweeperConf:
    _target_: str = "hydra_plugins.jumpnet_sweeper.valid_grid_sweeper.ValidGridSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="valid_grid", node=ValidGridSweeperConf,
                             provider="jumpnet")


class SweepFailed(SweepError):
    """Some runs of the sweep did not complete; the others did and are kept."""


class ValidGridSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int], params: Optional[Dict[str, str]] = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.run_dirs: List[Path] = []
        self.skipped_done: List[Path] = []

    def _job_config(self, overrides: Sequence[str]) -> Any:
        return self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        from jumpnet.checks import check_run_config
        from jumpnet.runfolder import run_status

        jobs = BasicSweeper.split_arguments(overrides, None)[0]
        kept: List[List[str]] = []
        networks: Dict[tuple, str] = {}
        for job in jobs:
            cfg = self._job_config(job)
            try:
                check_run_config(cfg)
            except AblationError as err:
                log.warning(f"Not a valid arm, left out of the grid: {' '.join(job)} ({err})")
                continue
            except JumpnetError as err:  # bad input: stop before any job starts
                raise type(err)(f"{err.message} (sweep arm: {' '.join(job)})", err.fix) from err
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
            raise ConfigError("No valid run in this sweep: every grid point was an unsupported model x ablation",
                              "see the warnings above for what each model supports")
        log.info(f"Sweep: {len(self.run_dirs)} runs, {len(self.skipped_done)} already completed, "
                 f"{len(kept)} to launch")
        if not kept:
            return []
        if max_batch_size is None:
            return [kept]
        return list(BasicSweeper.split_overrides_to_chunks(kept, max_batch_size))

    @staticmethod
    def _same_network_as(cfg: Any, job: Sequence[str], seen: Dict[tuple, str]) -> Optional[str]:
        """The earlier job that trains the identical configuration once the ablation is resolved, if any."""
        from jumpnet.factory import ablation_kwargs, model_class

        switches, cls = ablation_kwargs(cfg), model_class(cfg)
        merge = cls.check_ablation(**switches)
        rest = tuple(o for o in job if not o.startswith(("ablation=", "ablation.")))
        key = rest + (switches["links"], merge, cls.resolve_head(switches["head"]))
        if key in seen:
            return seen[key]
        seen[key] = " ".join(job)
        return None

    def sweep(self, arguments: List[str]) -> Any:
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
