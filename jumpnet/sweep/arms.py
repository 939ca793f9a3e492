"""The arms of a grid sweep: which grid points run, which are left out and why, and where each runs.

One enumeration, used by the sweeper (``hydra_plugins/jumpnet_sweeper``), by
``make plan`` (``jumpnet.sweep.plan``) and by ``make status`` (``jumpnet.sweep.status``), so
the three always agree on the arms and their run folders:

- a grid point a model cannot express (ResNet v2 x concat) is left out as
  ``invalid``, with the model's own explanation;
- a point that builds the same network as an earlier one (``concat`` on a model
  whose own merge is concat is its ``full`` arm; ResNet v2's ``no_shortcuts`` is
  its ``no_links``; a matched arm whose solved width is the raw arm's) is left out
  as ``duplicate``: the class, its integer widths (``model.width_mult`` and any
  ``ablation.match`` solved, once per distinct arm) and the resolved switches,
  with every other override but the neutral ones (``trainer.compile=default`` and
  ``false`` train the same run, in the same folder: ``jumpnet.config.naming``);
- a point whose config is bad (``trainer.epochs=0``) is ``bad_config``: the
  sweeper refuses the whole sweep before any job starts; plan and status show it;
- every other point is a ``run``, with the run folder Hydra will give it.

An arm says why it is left out as data (``kind``, ``reason``, ``duplicate_of``,
``error``); the sweeper's log and summary and ``plan`` word it from those.

Outside a Hydra run (plan, status) ``load_sweep`` composes the sweep exactly
as ``run.py -m`` does: the same config loader, the same master config and the
same per-job configs (``jumpnet.sweep.compose``: each distinct composition once).
"""
from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from hydra import initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig

from jumpnet.config.naming import is_neutral
from jumpnet.errors import AblationError, ConfigError, JumpnetError
from jumpnet.models.cost import COSTS
from jumpnet.models.factory import ModelSpec
from jumpnet.paths import CONF_DIR
from jumpnet.run.spec import RunSpec, resolve_run
from jumpnet.sweep.compose import SweepComposer, folder_of
from jumpnet.sweep.prefetch import Prepared, prefetch


@dataclass
class Arm:
    overrides: list[str]
    kind: str                         # run | invalid | duplicate | bad_config
    cfg: DictConfig | None = None
    reason: str | None = None         # invalid, bad_config: what is wrong, in the error's words (its message, no fix)
    run_dir: Path | None = None       # where a run trains
    error: JumpnetError | None = None  # invalid, bad_config: the error (its fix; the sweeper raises a bad_config's)
    duplicate_of: str | None = None   # duplicate: the folder (``name``) of the earlier arm that builds the same network
    spec: RunSpec | None = None       # run: its checked spec (the model at its solved width), so no reader checks again
    folder: str | None = None         # ``name``, where it was resolved already (a worker: ``jumpnet.sweep.prefetch``)

    @property
    def label(self) -> str:
        return " ".join(self.overrides)

    @cached_property
    def name(self) -> str:
        """The arm's folder inside the sweep (``jumpnet-full-s0``, with override levels when there are any); resolved
        once (its resolvers name the ablation and shorten the overrides: ~2 ms a call, and every tool asks often)."""
        return self.folder or folder_of(self.cfg, self.label)

    @property
    def left_out(self) -> bool:
        return self.kind != "run"

    @property
    def why(self) -> str:
        """Why the arm is left out, in full: the error with its fix, or the arm it duplicates ("" for a run)."""
        if self.kind == "duplicate":
            return f"builds the same network as {self.duplicate_of}"
        return {"invalid": f"not a valid arm: {self.error}", "bad_config": f"bad config: {self.error}"}.get(
            self.kind, "")


def network_key(spec: RunSpec, job: Sequence[str]) -> tuple:
    """What makes two jobs train the same thing: every override but the model's, the ablation's and the neutral
    ones (``jumpnet.config.naming.is_neutral``), plus the network they build (``ModelSpec.network_key``: class,
    integer widths, resolved switches)."""
    rest = tuple(sorted(o for o in job
                        if not o.startswith(("ablation=", "ablation.", "model=", "model.")) and not is_neutral(o)))
    return rest + (spec.model.network_key(),)


def enumerate_arms(jobs: Sequence[Sequence[str]], load: Callable[[list[str]], DictConfig],
                   prepared: dict[tuple, Prepared] | None = None) -> list[Arm]:
    """Classify every job of the grid (in grid order); ``load`` composes one job's config, Hydra node included.

    ``prepared``: jobs already composed and checked elsewhere (``jumpnet.sweep.prefetch``), by their overrides."""

    arms: list[Arm] = []
    networks: dict[tuple, str] = {}
    solved: dict[str, ModelSpec] = {}  # a matched arm's width, solved once per model x ablation x data, not per seed
    prepared = prepared or {}
    for job in map(list, jobs):
        ready = prepared.get(tuple(job))
        if ready is not None and ready.spec is not None:
            cfg, spec, folder = ready.cfg, ready.spec, ready.folder
        else:  # not prepared, or its check failed there: checked here, where the error is classified
            cfg, folder = (ready.cfg if ready is not None else load(job)), None
            try:
                spec = resolve_run(cfg, solved)  # the run's own validation pass, once per arm
            except AblationError as err:
                arms.append(Arm(job, "invalid", cfg, err.message, error=err))
                continue
            except JumpnetError as err:
                arms.append(Arm(job, "bad_config", cfg, err.message, error=err))
                continue
        key = network_key(spec, job)
        if key in networks:
            arms.append(Arm(job, "duplicate", cfg, duplicate_of=networks[key], folder=folder))
            continue
        arm = Arm(job, "run", cfg, spec=spec, folder=folder)
        arm.run_dir = Path(str(cfg.hydra.sweep.dir)) / arm.name
        networks[key] = arm.name
        arms.append(arm)
    return arms


def grid_jobs(params: dict[str, Any] | None, arguments: Sequence[str], config_loader: Any,
              arms: Sequence[str] | None = None) -> list[list[str]]:
    """The grid's jobs, as Hydra's basic sweeper expands ``hydra.sweeper.params`` + the command line.

    With ``arms`` (``hydra.sweeper.arms``: lines of overrides, each a sub-grid), the union of the sub-grids, each
    crossed with ``params`` and the command line (later wins: params, then the arm, then the command line), in
    order, each job once.
    """

    parser = OverridesParser.create(config_loader=config_loader)
    head = [f"{k}={v}" for k, v in (params or {}).items()]
    if not arms:
        return BasicSweeper.split_arguments(parser.parse_overrides(head + list(arguments)), None)[0]
    jobs: dict[tuple, list[str]] = {}
    for arm in arms:
        try:
            lines = [*head, *shlex.split(str(arm)), *arguments]
            grid = BasicSweeper.split_arguments(parser.parse_overrides(lines), None)[0]
        except Exception as err:  # Hydra's parse errors, shlex's unbalanced quotes
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"hydra.sweeper.arms entry {str(arm)!r} is not a line of overrides ({first})",
                              "write each entry as overrides in sweep syntax: 'model=jumpnet model.width_mult=0.5,1'"
                              ) from err
        for job in grid:
            jobs.setdefault(tuple(sorted(job)), job)
    return list(jobs.values())


class NotAGridSweep(ValueError):
    """The overrides select a sweeper other than the valid-grid one (e.g. Optuna)."""


def load_sweep(overrides: Sequence[str]) -> tuple[DictConfig, list[Arm]]:
    """The master config and the arms of ``run.py -m OVERRIDES``, composed without running anything."""

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", list(overrides), RunMode.MULTIRUN)
        target = str(master.hydra.sweeper.get("_target_", ""))
        if not target.endswith("ValidGridSweeper"):
            raise NotAGridSweep(f"these overrides sweep with {target or 'no sweeper'}, not a grid: plan and status "
                                f"cover grid sweeps (hparams_search=grid, the default)")
        jobs = grid_jobs(master.hydra.sweeper.get("params"), list(master.hydra.overrides.task), loader,
                         master.hydra.sweeper.get("arms"))
        composer = SweepComposer(loader, master)
        arms = enumerate_arms(jobs, composer, prefetch(jobs, composer))
        COSTS.save()  # the next plan or status of these arms builds no network
        return master, arms
