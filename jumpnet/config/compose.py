"""Compose the project's Hydra config outside ``run.py`` (describe, bench, data preparation, tests)."""
from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from jumpnet.paths import CONF_DIR


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The config ``run.py`` would see for these overrides (Hydra's own settings excluded)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))
