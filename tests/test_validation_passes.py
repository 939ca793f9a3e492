"""One validation pass per run: the schema's field checks and the model checks run once for a run, once per
sweep arm, and a matched arm's width is solved once per model x ablation x data, however many seeds.

(Before ``jumpnet.run.spec.resolve_run``, one ``execute`` ran the model checks twice, and so did each arm of
``enumerate_arms`` and each job after it.)
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable

import pytest
from omegaconf import open_dict

import jumpnet.config.schema as schema
import jumpnet.models.factory as factory
import jumpnet.models.matching as matching
from jumpnet.config.compose import compose_config
from jumpnet.run.pipeline import execute
from jumpnet.sweep.arms import load_sweep
from tests.conftest import TINY_DATA, TINY_JUMPNET

TINY_RUN = [*TINY_DATA, *TINY_JUMPNET, "trainer.epochs=1", "logger=none", "trainer.threads=1"]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts of the field checks, the model checks and the width solves, wherever they are called from."""
    counts: Counter = Counter()

    def count(module: object, name: str, label: str) -> None:
        original: Callable = getattr(module, name)

        def counted(*args, **kwargs):
            counts[label] += 1
            return original(*args, **kwargs)

        for mod in list(sys.modules.values()):  # every module that imported it by name, too
            for attr, value in list(vars(mod).items()) if mod is not None else ():
                if value is original:
                    monkeypatch.setattr(mod, attr, counted)

    count(schema, "check_fields", "fields")
    count(factory, "check_model", "model")
    count(matching, "match_width", "solve")
    return counts


def test_one_run_checks_its_config_once(calls, tmp_path):
    execute(compose_config([*TINY_RUN, f"paths.experiments_dir={tmp_path}"]), tmp_path / "run")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "completed"
    assert calls == {"fields": 1, "model": 1}


def test_a_sweep_arm_and_its_job_each_check_once_and_seeds_share_the_solve(calls, tmp_path):
    _, arms = load_sweep([*TINY_RUN, "ablation=add_matched", "seed=0,1,2", f"paths.experiments_dir={tmp_path}"])
    assert [a.kind for a in arms] == ["run"] * 3
    assert calls == {"fields": 3, "model": 3, "solve": 1}  # one pass per arm; one solve for the three seeds
    calls.clear()
    job = arms[0].cfg.copy()
    with open_dict(job):
        del job["hydra"]  # what Hydra hands the task function
    execute(job, arms[0].run_dir, multirun=True)
    record = json.loads((arms[0].run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["match"] == "params"
    assert calls == {"fields": 1, "model": 1, "solve": 1}  # the job's own pass: it may run on another machine
