"""``trainer.compile`` and ``trainer.runs_per_gpu``: the values accepted, and a clear error for the others."""
from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from jumpnet.config.compose import compose_config
from jumpnet.paths import CONF_DIR
from jumpnet.run.spec import ConfigError, check_run_config
from jumpnet.train.compile import compile_mode


@pytest.mark.parametrize("value,mode", [(False, None), ("false", None), (None, None), (True, "default"),
                                        ("true", "default"), ("default", "default"), ("max-autotune", "max-autotune"),
                                        ("reduce-overhead", "reduce-overhead")])
def test_compile_values(value, mode):
    assert compile_mode(value) == mode


@pytest.mark.parametrize("override,message", [
    ("trainer.compile=max_autotune", "trainer.compile='max_autotune' is not one of false, true, default, "
                                     "max-autotune, reduce-overhead; did you mean max-autotune"),
    ("trainer.runs_per_gpu=0", "trainer.runs_per_gpu=0 must be >= 1"),
])
def test_bad_speed_settings_are_refused_before_any_work(override, message):
    with pytest.raises(ConfigError, match=message):
        check_run_config(compose_config(["data=synthetic", override]))


def test_speed_settings_do_not_change_the_run_folder():
    """A sweep resumed with another compile mode or runs_per_gpu continues in the same run folders."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", ["trainer.compile=default", "trainer.runs_per_gpu=2"], return_hydra_config=True)
    assert cfg.hydra.job.override_dirname == ""
