"""Experiment tracking: W&B (offline by default) or nothing; ``metrics.json`` stays the source of truth.

Each run is opened and finished inside its own job (``with tracker(...)``), so
the runs of one multirun never merge into the first one.
"""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class NullTracker:
    """``logger=none``: tracks nothing."""

    def __enter__(self) -> "NullTracker":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def log_epoch(self, row: dict) -> None:
        pass

    def summary(self, values: dict) -> None:
        pass


class WandbTracker(NullTracker):
    """One W&B run per training run: grouped by experiment, tagged with model and ablation, resumable by id."""

    def __init__(self, logger_cfg: Any, run_dir: Path, config: dict, group: str, name: str, tags: list[str]):
        self.cfg, self.run_dir, self.config = logger_cfg, Path(run_dir), config
        self.group, self.name, self.tags = group, name, tags
        self.run = None

    def _run_id(self) -> str:
        """A stable id stored in the run folder, so a resumed run continues its W&B run."""
        path = self.run_dir / "wandb_id.txt"
        if path.exists():
            return path.read_text().strip()
        run_id = secrets.token_hex(4)
        path.write_text(run_id + "\n")
        return run_id

    def __enter__(self) -> "WandbTracker":
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(
            project=self.cfg.project, entity=self.cfg.get("entity"), mode=self.cfg.mode, dir=str(self.run_dir),
            id=self._run_id(), resume="allow", name=self.name, group=self.group, tags=self.tags,
            config=self.config, job_type="train", reinit="create_new",
        )
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self.run is not None:
            self.run.finish(exit_code=0 if exc_type is None else 1)
            self.run = None

    def log_epoch(self, row: dict) -> None:
        self.run.log({k: v for k, v in row.items() if v is not None}, step=row["epoch"])

    def summary(self, values: dict) -> None:
        for key, value in values.items():
            if key != "history":
                self.run.summary[key] = value


def make_tracker(logger_cfg: Any, run_dir: Path, config: dict, group: str, name: str, tags: list[str]) -> NullTracker:
    if logger_cfg.name == "none" or logger_cfg.get("mode") == "disabled":
        return NullTracker()
    if logger_cfg.name == "wandb":
        return WandbTracker(logger_cfg, run_dir, config, group, name, tags)
    raise ValueError(f"logger={logger_cfg.name!r} is unknown; choose logger=wandb or logger=none")
