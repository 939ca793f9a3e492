"""Compose the project's Hydra config outside ``run.py`` (describe, bench, data preparation, tests)."""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import jumpnet.schema  # noqa: F401 - registers the config schema (schema/*) in Hydra's ConfigStore

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The config ``run.py`` would see for these overrides (Hydra's own settings excluded)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))
