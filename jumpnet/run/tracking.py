"""Experiment tracking: W&B (offline by default) or nothing; ``metrics.json`` stays the source of truth.

Each run is opened and finished inside its own job (``with tracker(...)``), so
the runs of one multirun never merge into the first one. The summary holds the
best ``val_acc`` (``define_metric``: ``val_acc.max``) beside ``best_val_acc``,
``best_epoch`` and the final test metrics; ``logger.log_checkpoint=true`` uploads
the selected weights as a ``model`` artifact.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any

import torch

from jumpnet.config.choices import GroupBy
from jumpnet.errors import ConfigError

log = logging.getLogger(__name__)
WANDB_ID = "wandb_id.txt"
WEIGHTS = "weights.pt"
# Metrics whose best value, not last, belongs in the summary.
SUMMARIES = {"val_acc": "max", "val_loss": "min"}


class NullTracker:
    """``logger=none``: tracks nothing."""

    problem: BaseException | None = None  # what finishing the tracker's run raised (kept: the run goes on)

    def __enter__(self) -> NullTracker:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def log_epoch(self, row: dict) -> None:
        pass

    def summary(self, values: dict) -> None:
        pass

    def log_weights(self, model: torch.nn.Module, metadata: dict) -> None:
        pass


def run_name(run_dir: Path, sweep_dir: Path) -> str:
    """The run folder's name, plus the overrides its folder path holds under the sweep (unique per run)."""
    run_dir = Path(run_dir)
    try:
        parts = run_dir.resolve().relative_to(Path(sweep_dir).resolve()).parts[:-1]
    except ValueError:  # a run folder placed elsewhere (hydra.run.dir=...)
        parts = ()
    overrides = ",".join(p for p in parts if p)
    return f"{run_dir.name} [{overrides}]" if overrides else run_dir.name


GROUP_CHARS, TAG_CHARS = 128, 64  # W&B's limits on a group's and a tag's length


def fit(text: str, limit: int) -> str:
    """``text`` itself when it fits, else a prefix and a hash of the whole (still unique, still readable)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit - 11]}~{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def run_group(logger_cfg: Any, experiment: str, run_dir: Path, sweep_dir: Path) -> str:
    """The W&B group: ``logger.group`` when set; else, by ``logger.group_by``, the arm (``<experiment>/<model>-
    <variant> [<overrides>]``: every seed of one arm, and nothing else, so W&B's grouped view shows the arm's mean
    and spread) or the experiment's name."""
    if logger_cfg.get("group"):
        return str(logger_cfg.group)
    if str(logger_cfg.get("group_by", GroupBy.arm)) == GroupBy.experiment:
        return fit(experiment, GROUP_CHARS)
    name = run_name(run_dir, sweep_dir)
    folder = Path(run_dir).name
    return fit(f"{experiment}/{re.sub(r'-s[0-9]+$', '', folder)}{name[len(folder):]}", GROUP_CHARS)


class WandbTracker(NullTracker):
    """One W&B run per training run: grouped, tagged, resumable by id, a new id after ``trainer.overwrite``."""

    def __init__(self, logger_cfg: Any, run_dir: Path, config: dict, name: str, tags: list[str],
                 group: str | None = None):
        self.cfg, self.run_dir, self.config = logger_cfg, Path(run_dir), config
        self.name, self.group = name, group or logger_cfg.get("group") or None
        self.tags = list(dict.fromkeys([*tags, *(logger_cfg.get("tags") or [])]))  # ordered, no duplicates
        self.run = None

    def _run_id(self) -> str:
        """A stable id stored in the run folder, so a resumed run continues its W&B run."""
        path = self.run_dir / WANDB_ID
        if path.exists():
            return path.read_text().strip()
        run_id = secrets.token_hex(4)
        path.write_text(run_id + "\n")
        return run_id

    def __enter__(self) -> WandbTracker:
        import wandb  # noqa: PLC0415 - optional and slow to import (about 1 s): only logger=wandb needs it

        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(
            project=self.cfg.project, entity=self.cfg.get("entity"), mode=str(self.cfg.mode), dir=str(self.run_dir),
            id=self._run_id(), resume="allow", name=self.name, group=self.group,
            tags=self.tags, config=self.config, job_type="train", reinit="create_new",
        )
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")
        for metric, best in SUMMARIES.items():
            self.run.define_metric(metric, step_metric="epoch", summary=best)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        """Finish the W&B run; an error doing so is kept in ``problem`` (the pipeline notes it), never raised."""
        if self.run is not None:
            try:
                self.run.finish(exit_code=0 if exc_type is None else 1)
            except Exception as err:  # noqa: BLE001 - the run's own outcome does not depend on W&B
                log.warning(f"W&B run not finished: {type(err).__name__}: {err}")
                self.problem = err
            self.run = None

    def log_epoch(self, row: dict) -> None:
        self.run.log({k: v for k, v in row.items() if v is not None}, step=row["epoch"])

    def summary(self, values: dict) -> None:
        for key, value in values.items():
            if key != "history" and key not in SUMMARIES:
                self.run.summary[key] = value

    def log_weights(self, model: torch.nn.Module, metadata: dict) -> None:
        """``logger.log_checkpoint=true``: the selected weights (``weights.pt``) as a ``model`` artifact."""
        if not self.cfg.get("log_checkpoint"):
            return
        import wandb  # noqa: PLC0415 - optional and slow to import (about 1 s): only logger=wandb needs it

        path = self.run_dir / WEIGHTS
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
        artifact = wandb.Artifact(f"model-{self.run.id}", type="model", metadata=metadata)
        artifact.add_file(str(path))
        self.run.log_artifact(artifact, aliases=["selected", f"epoch-{metadata.get('best_epoch')}"])
        log.info(f"Selected weights logged to W&B as artifact model-{self.run.id} ({path})")


def make_tracker(logger_cfg: Any, run_dir: Path, config: dict, name: str, tags: list[str],
                 group: str | None = None) -> NullTracker:
    if logger_cfg.name == "none" or str(logger_cfg.get("mode")) == "disabled":
        return NullTracker()
    if logger_cfg.name == "wandb":
        return WandbTracker(logger_cfg, run_dir, config, name, tags, group)

    raise ConfigError(f"logger={logger_cfg.name!r} is unknown", "choose logger=wandb or logger=none")
