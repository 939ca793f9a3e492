"""The arms of a grid sweep: which grid points run, which are left out and why, and where each runs.

One enumeration, used by the sweeper (``hydra_plugins/jumpnet_sweeper``), by
``make plan`` (``jumpnet.plan``) and by ``make status`` (``jumpnet.status``), so
the three always agree on the arms and their run folders:

- a grid point a model cannot express (ResNet v2 x concat) is left out as
  ``invalid``, with the model's own explanation;
- a point that builds the same network as an earlier one (``concat`` on a model
  whose own merge is concat is its ``full`` arm) is left out as ``duplicate``;
- a point whose config is bad (``trainer.epochs=0``) is ``bad_config``: the
  sweeper refuses the whole sweep before any job starts; plan and status show it;
- every other point is a ``run``, with the run folder Hydra will give it.

Outside a Hydra run (plan, status) ``load_sweep`` composes the sweep exactly
as ``run.py -m`` does: the same config loader, the same master config and the
same per-job ``load_sweep_config``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from omegaconf import DictConfig

from jumpnet.configs import CONF_DIR


@dataclass
class Arm:
    overrides: list[str]
    kind: str                    # run | invalid | duplicate | bad_config
    cfg: DictConfig | None = None
    reason: str | None = None    # why an arm is left out (None for a run)
    run_dir: Path | None = None  # where a run trains
    error: Exception | None = None  # a bad_config arm's error, which the sweeper raises

    @property
    def label(self) -> str:
        return " ".join(self.overrides)

    @property
    def name(self) -> str:
        """The arm's folder inside the sweep (``jumpnet-full-s0``, with override levels when there are any)."""
        try:
            return str(Path(str(self.cfg.hydra.sweep.subdir)))
        except Exception:  # a config too broken to name its folder
            return self.label

    @property
    def left_out(self) -> bool:
        return self.kind != "run"

    @property
    def why(self) -> str:
        """Why the arm is left out, in a few words."""
        return {"invalid": f"not a valid arm: {self.reason}", "bad_config": f"bad config: {self.reason}"}.get(
            self.kind, self.reason or "")


def network_key(cfg: DictConfig, job: Sequence[str]) -> tuple:
    """What makes two jobs train the same thing: every override but the ablation's, plus the resolved switches."""
    from jumpnet.factory import ablation_kwargs, model_class

    switches, cls = ablation_kwargs(cfg), model_class(cfg)
    merge = cls.check_ablation(**switches)
    rest = tuple(o for o in job if not o.startswith(("ablation=", "ablation.")))
    return rest + (switches["links"], merge, cls.resolve_head(switches["head"]))


def enumerate_arms(jobs: Sequence[Sequence[str]], load: Callable[[list[str]], DictConfig]) -> list[Arm]:
    """Classify every job of the grid (in grid order); ``load`` composes one job's config, Hydra node included."""
    from jumpnet.checks import check_run_config
    from jumpnet.errors import AblationError, JumpnetError

    arms: list[Arm] = []
    networks: dict[tuple, str] = {}
    for job in map(list, jobs):
        cfg = load(job)
        try:
            check_run_config(cfg)
        except AblationError as err:
            arms.append(Arm(job, "invalid", cfg, str(err)))
            continue
        except JumpnetError as err:
            arms.append(Arm(job, "bad_config", cfg, str(err), error=err))
            continue
        key = network_key(cfg, job)
        if key in networks:
            arms.append(Arm(job, "duplicate", cfg, f"builds the same network as {networks[key]}"))
            continue
        arm = Arm(job, "run", cfg, run_dir=Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir))
        networks[key] = arm.name
        arms.append(arm)
    return arms


def grid_jobs(params: dict[str, Any] | None, arguments: Sequence[str], config_loader: Any) -> list[list[str]]:
    """The grid's jobs, as Hydra's basic sweeper expands ``hydra.sweeper.params`` + the command line."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    overrides = OverridesParser.create(config_loader=config_loader).parse_overrides(lines)
    return BasicSweeper.split_arguments(overrides, None)[0]


class NotAGridSweep(ValueError):
    """The overrides select a sweeper other than the valid-grid one (e.g. Optuna)."""


def load_sweep(overrides: Sequence[str]) -> tuple[DictConfig, list[Arm]]:
    """The master config and the arms of ``run.py -m OVERRIDES``, composed without running anything."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", list(overrides), RunMode.MULTIRUN)
        target = str(master.hydra.sweeper.get("_target_", ""))
        if not target.endswith("ValidGridSweeper"):
            raise NotAGridSweep(f"these overrides sweep with {target or 'no sweeper'}, not a grid: plan and status "
                                f"cover grid sweeps (hparams_search=grid, the default)")
        jobs = grid_jobs(master.hydra.sweeper.get("params"), list(master.hydra.overrides.task), loader)
        return master, enumerate_arms(jobs, lambda job: loader.load_sweep_config(master, job))
