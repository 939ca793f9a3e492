"""The one entry point: ``python run.py [-m] [overrides]`` (see README.md and conf/config.yaml)."""
import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import jumpnet.config  # noqa: F401 - registers the config schema (schema/*) and the run-folder resolvers
from jumpnet.errors import run_cli
from jumpnet.run.pipeline import execute

# A single run's error, raised again once Hydra has returned: raised inside the task, Hydra would print its own
# "Error executing job with overrides: [...]" line before ours. A sweep's jobs raise as before (the sweeper
# records each failure and goes on).
failures: list[Exception] = []


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        return execute(cfg, hydra_cfg.runtime.output_dir, multirun=multirun)
    except Exception as err:
        if multirun:
            raise
        failures.append(err)
        return None


def cli() -> None:
    main()
    if failures:
        raise failures[0]


if __name__ == "__main__":
    run_cli(cli)  # errors of ours and Hydra's composition errors in a line, not a traceback
