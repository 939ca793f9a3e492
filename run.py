"""The one entry point: ``python run.py [-m] [overrides]`` (see README.md and conf/config.yaml)."""
import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import jumpnet.config  # noqa: F401 - registers the config schema (schema/*) and the run-folder resolvers
from jumpnet.errors import run_cli
from jumpnet.run.pipeline import execute


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    return execute(cfg, hydra_cfg.runtime.output_dir, multirun=hydra_cfg.mode == RunMode.MULTIRUN)


if __name__ == "__main__":
    run_cli(main)  # errors of ours and Hydra's composition errors in a line, not a traceback
