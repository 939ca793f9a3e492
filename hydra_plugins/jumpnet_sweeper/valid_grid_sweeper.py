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
  ``ablation.match`` solved) and the resolved switches. A value no model
  accepts (``ablation.merge=sum``) fails when the config is composed, so a typo
  stops the sweep before anything runs. The arms come from ``jumpnet.sweep.arms``,
  which ``make plan`` and ``make status`` share.
- Skips runs whose folder already holds a completed (or diverged) record made
  with the same data (``jumpnet.run.attempts.final_record``, what the run itself
  checks before it trains), so re-running a sweep does only the unfinished work
  (interrupted runs resume from their checkpoint inside the job).
- Always finishes its launch list and prints a summary: a job that raises, even
  outside the run's own error handling (its folder busy or unreadable, a file
  that cannot be written), becomes a summary row with the reason, never the end
  of the sweep. With the basic launcher every job is launched on its own, so
  one job's failure cannot take the rest of its batch down. A run that another
  process holds (two identical sweeps at once) is waited for at the end, then
  launched again: it is then done (and says so), or resumes.
- Exits 0 when every run completed or diverged (divergence is an outcome, shown
  in the summary), non-zero, in one ``error:`` line, when any failed or could
  not start. The arms left out of the grid are listed in the summary too.
- Refuses a key given twice on its command line (``trainer.epochs=1
  trainer.epochs=3``), in one line, before anything runs. A finished sweep rerun
  where its folder cannot be written (read-only) has nothing to launch: it says
  ``multirun.yaml`` was not written and exits 0.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobStatus
from omegaconf import OmegaConf

import jumpnet.config  # noqa: F401 - the resolvers that name run folders (jumpnet/config/naming.py)
from jumpnet.atomic import write_error
from jumpnet.config.naming import check_repeated
from jumpnet.data.identity import data_identity
from jumpnet.errors import ConfigError, DataError, JumpnetError
from jumpnet.run.attempts import final_record
from jumpnet.run.folder import FINAL, RecordUnreadable, RunBusy, run_status, wait_until_free
from jumpnet.sweep.arms import enumerate_arms, grid_jobs
from jumpnet.sweep.eta import eta_line, keep_estimates
from jumpnet.sweep.summary import SweepFailed, left_out_row, one_line, summarize

__all__ = ["SweepFailed", "ValidGridSweeper", "ValidGridSweeperConf"]

log = logging.getLogger(__name__)


@dataclass
class ValidGridSweeperConf:
    _target_: str = "hydra_plugins.jumpnet_sweeper.valid_grid_sweeper.ValidGridSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None
    arms: Optional[List[str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="valid_grid", node=ValidGridSweeperConf,
                             provider="jumpnet")


class ValidGridSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int], params: Optional[Dict[str, str]] = None,
                 arms: Optional[List[str]] = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.arms = [str(a) for a in arms or []]
        self.arguments: List[str] = []
        self.run_dirs: List[Path] = []
        self.skipped_done: List[Path] = []
        self.left_out: List[str] = []                       # the summary's rows of arms left out of the grid
        self.job_dirs: Dict[Tuple[str, ...], Path] = {}     # each launched job's run folder
        self.failures: Dict[Path, BaseException] = {}       # what a job raised, by run folder
        self.waited: List[Path] = []                        # runs another process held while this sweep ran

    def _job_config(self, overrides: Sequence[str]) -> Any:
        return self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        jobs = grid_jobs(self.params, self.arguments, self.hydra_context.config_loader, self.arms)
        varying = {o.split("=", 1)[0] for o in {o for job in jobs for o in job}
                   if sum(o in job for job in jobs) < len(jobs)}
        def compact(arm):
            return (" ".join(o for o in arm.overrides if o.split("=", 1)[0] in varying) or arm.label)
        kept: List[List[str]] = []
        launching, runs = [], []
        for arm in enumerate_arms(jobs, self._job_config):
            if arm.kind == "bad_config":  # bad input: stop before any job starts
                err = arm.error
                raise type(err)(f"{err.message} (sweep arm: {arm.label})", err.fix) from err
            if arm.left_out:
                if arm.kind == "invalid":
                    log.warning(f"Not a valid arm, left out of the grid: {arm.label} ({arm.error})")
                else:
                    log.info(f"Left out: {arm.label} {arm.why}")
                self.left_out.append(left_out_row(arm, compact(arm)))
                continue
            self.run_dirs.append(arm.run_dir)
            runs.append(arm)
            done = self._done_before(arm.cfg, arm.run_dir)
            if done:
                log.info(f"Already {done}, skipped: {arm.run_dir}")
                self.skipped_done.append(arm.run_dir)
                continue
            self.job_dirs[tuple(arm.overrides)] = arm.run_dir
            kept.append(arm.overrides)
            launching.append(arm)
        if not self.run_dirs:
            raise ConfigError("No valid run in this sweep: every grid point was an unsupported model x ablation",
                              "see the warnings above for what each model supports")
        log.info(f"Sweep: {len(self.run_dirs)} runs, {len(self.skipped_done)} already completed, "
                 f"{len(kept)} to launch" + (f", {len(self.left_out)} arms left out" if self.left_out else ""))
        try:  # each run's estimate, kept for the report (Time table); a cache of the plan, never worth a failed sweep
            keep_estimates(Path(str(self.config.hydra.sweep.dir)), runs)
        except (OSError, JumpnetError) as err:
            log.warning(f"Estimates not kept in {self.config.hydra.sweep.dir}: {err}")
        if not kept:
            return []
        log.info(eta_line(launching))  # make plan's estimate of what is launched (jumpnet.sweep.eta)
        if max_batch_size is None:
            return [kept]
        return list(BasicSweeper.split_overrides_to_chunks(kept, max_batch_size))

    @staticmethod
    def _done_before(cfg: Any, run_dir: Path) -> Optional[str]:
        """``completed``/``diverged`` when the folder holds such a record made with this data (then it is skipped)."""

        if cfg.trainer.get("overwrite", False):
            return None
        try:
            record = final_record(run_dir, lambda: data_identity(cfg.data))
        except (RecordUnreadable, DataError):
            return None  # launched: the job refuses it and the summary says why
        return None if record is None else str(record["status"])

    def sweep(self, arguments: List[str]) -> Any:
        """BasicSweeper.sweep, with every job's failure kept for the summary instead of ending the sweep."""

        check_repeated(arguments)  # one key, one value: the sweep's folders are named by them
        self.arguments = list(arguments)  # the command line, which wins over params and arms
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        self.overrides = self.split_arguments(overrides, self.max_batch_size)
        self._save_multirun_yaml(Path(self.config.hydra.sweep.dir))
        returns: List[Sequence[Any]] = []
        try:
            index = 0
            while not self.is_done():
                batch = self.get_job_batch()
                self.validate_batch_is_legal(batch)  # composition errors stop the sweep before its jobs run
                for unit in self._launch_units(batch):
                    returns.append(self._launch(unit, index))
                    index += len(unit)
            returns += self._relaunch_busy(index)
        except KeyboardInterrupt:
            self._summarize(interrupted=True)
            raise
        self._summarize()
        return returns

    def _save_multirun_yaml(self, sweep_dir: Path) -> None:
        """The sweep's config, ``multirun.yaml`` (``make status`` reads it); where it cannot be written and nothing
        is left to launch (a finished sweep in a read-only folder), a note, not a failure."""
        path = sweep_dir / "multirun.yaml"
        try:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            text = OmegaConf.to_yaml(self.config)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as err:
            if self.overrides:
                raise write_error(path, err) from err
            log.info(f"Note: {path} not written ({err.strerror or err}); nothing to launch, so nothing is lost")

    def _launch_units(self, batch: Sequence[Sequence[str]]) -> List[Sequence[Sequence[str]]]:
        """One job at a time under the basic launcher (it runs them in turn anyway); whole batches elsewhere."""

        return [[job] for job in batch] if isinstance(self.launcher, BasicLauncher) else [batch]

    def _launch(self, jobs: Sequence[Sequence[str]], index: int) -> Sequence[Any]:
        """Launch ``jobs``; what any of them raises (inside the task or around it) is kept, never re-raised."""

        try:
            results = self.launcher.launch(jobs, initial_job_idx=index)
        except Exception as err:  # noqa: BLE001 - e.g. Hydra could not create the folder or write .hydra/
            for job in jobs:
                self._failed(job, err)
            return []
        for job, result in zip(jobs, results):
            if result.status == JobStatus.FAILED:
                self._failed(job, result._return_value)  # the exception; `return_value` would raise it
        return results

    def _failed(self, job: Sequence[str], err: BaseException) -> None:
        run_dir = self.job_dirs.get(tuple(job))
        log.error(f"Job {' '.join(job)} did not run to the end: {one_line(err)}")
        if run_dir is not None:
            self.failures[run_dir] = err

    def _relaunch_busy(self, index: int) -> List[Sequence[Any]]:
        """Runs another process was training: wait until it lets go; launch those it did not finish (they resume)."""

        busy = [job for job, run_dir in self.job_dirs.items() if isinstance(self.failures.get(run_dir), RunBusy)]
        again = []
        for job in busy:
            run_dir = self.job_dirs[job]
            log.info(f"Waiting for the other process training {run_dir} to finish (Ctrl-C stops waiting; "
                     f"that process goes on)")
            wait_until_free(run_dir)
            del self.failures[run_dir]
            if run_status(run_dir) in FINAL:
                self.waited.append(run_dir)
            else:
                again.append(job)
        returns = []
        for unit in self._launch_units([list(job) for job in again]):
            returns.append(self._launch(unit, index))
            index += len(unit)
        return returns

    def _summarize(self, interrupted: bool = False) -> None:
        summarize(self.run_dirs, self.failures, self.skipped_done, self.waited, self.left_out, interrupted)
