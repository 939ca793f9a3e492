"""Errors of our own and Hydra's composition errors: one line naming the key, the bad value and the fix,
with the closest valid name suggested; no traceback unless HYDRA_FULL_ERROR=1."""
from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

from hydra_plugins.jumpnet_sweeper.valid_grid_sweeper import SweepFailed
from jumpnet.atomic import write_error
from jumpnet.config.compose import compose_config
from jumpnet.data import DataError
from jumpnet.errors import AblationError, ConfigError, JumpnetError, SweepError, explain, run_cli
from jumpnet.models.network import AblationError as NetworkAblationError


def composition_error(*overrides: str) -> str:
    with pytest.raises(Exception) as err:
        compose_config(list(overrides))
    return explain(err.value)


@pytest.mark.parametrize("overrides,message", [
    (["trainer.epoch=2"], "trainer.epoch is not a config key; did you mean trainer.epochs?"),
    (["model.stems=[4,8]"], "model.stems is not a config key; did you mean model.stem?"),
    (["modle=jumpnet"], "modle is not a config group or key; did you mean model?"),
    (["trainer.epochs=abc"], "trainer.epochs=abc is not an integer; e.g. trainer.epochs=30 (its current value)"),
    (["trainer.lr=fast"], "trainer.lr=fast is not a float; e.g. trainer.lr=0.1 (its current value)"),
    (["trainer.schedule=cosin"], "trainer.schedule=cosin is not one of cosine, step, onecycle; did you mean cosine?"),
    (["ablation.merge=ad"], "ablation.merge=ad is not one of concat, add; did you mean add?"),
    (["model=resnet9000"], "model=resnet9000 is not an option of the model group; did you mean resnet_v2? (options: "),
    (["data=cifar"], "data=cifar is not an option of the data group; did you mean cifar10?"),
])
def test_composition_errors_name_the_key_and_the_closest_valid_one(overrides, message):
    text = composition_error(*overrides)
    assert text.startswith(message) and "\n" not in text


def test_every_project_error_shares_one_base_and_survives_pickling():
    """submitit sends a job's exception back pickled: the fix must come with it."""
    assert NetworkAblationError is AblationError and issubclass(AblationError, ConfigError)
    for cls in (ConfigError, DataError, AblationError, SweepError, SweepFailed):
        assert issubclass(cls, JumpnetError)
    err = pickle.loads(pickle.dumps(DataError("data.archive='x' does not exist", "point it at a tar")))
    assert str(err) == "data.archive='x' does not exist. Fix: point it at a tar" and err.fix == "point it at a tar"


def test_run_cli_prints_one_line_and_exits_1(capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def fails():
        raise ConfigError("trainer.lr=-1.0 must be > 0", "e.g. trainer.lr=0.1")

    with pytest.raises(SystemExit) as code:
        run_cli(fails)
    assert code.value.code == 1
    assert capsys.readouterr().err == "error: trainer.lr=-1.0 must be > 0. Fix: e.g. trainer.lr=0.1\n"


def test_hydra_full_error_gives_the_traceback_and_a_bug_keeps_it(capsys, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):                     # re-raised untouched: Python prints the traceback
        run_cli(lambda: (_ for _ in ()).throw(ConfigError("x=1 is wrong")))
    monkeypatch.delenv("HYDRA_FULL_ERROR")
    with pytest.raises(SystemExit):
        run_cli(lambda: {}["missing"])                   # not ours: a bug, shown with its traceback
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'missing'" in err


@pytest.mark.parametrize("code,fix", [(errno.ENOSPC, "free space"), (errno.ENOENT, "create its folder"),
                                      (errno.EROFS, "make that filesystem writable"),
                                      (errno.EACCES, "make that folder writable")])
def test_a_write_error_names_the_fix_for_its_errno(code, fix):
    err = write_error(Path("/x/metrics.json"), OSError(code, os.strerror(code)))
    assert err.message.startswith("cannot write /x/metrics.json: [Errno") and err.fix.startswith(fix)
