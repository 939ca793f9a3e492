"""``hparams_search=optuna``: a real (tiny) Optuna search whose objective is the validation accuracy."""
from __future__ import annotations

import csv
import json

import pytest
import yaml

from tests.conftest import TINY_DATA, TINY_JUMPNET, run_py


def test_optuna_search_maximizes_validation_accuracy_and_keeps_its_history(exp_dir):
    out = run_py(["-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", "name=tune", *TINY_JUMPNET, *TINY_DATA,
                  "trainer.epochs=1", "logger=none", "trainer.threads=1", f"paths.experiments_dir={exp_dir}"],
                 timeout=240)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    sweep = exp_dir / "tune"
    runs = [json.loads(p.read_text()) for p in sweep.rglob("metrics.json")]  # every trial ends in jumpnet-full-s0/
    assert len(runs) == 3 and all(r["status"] == "completed" for r in runs)
    assert len({(r["history"][0]["lr"]) for r in runs}) == 3  # three trials, three run folders

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(r["best_val_acc"] for r in runs))  # validation, not test
    assert set(best["best_params"]) == {"trainer.lr", "trainer.weight_decay", "trainer.batch_size",
                                        "trainer.label_smoothing"}
    assert 0.01 <= best["best_params"]["trainer.lr"] <= 0.5
    assert best["best_params"]["trainer.batch_size"] in (64, 128, 256)

    with open(sweep / "optuna_trials.csv") as f:
        trials = list(csv.DictReader(f))
    assert [t["number"] for t in trials] == ["0", "1", "2"] and all(t["state"] == "COMPLETE" for t in trials)
    assert sorted(float(t["value"]) for t in trials) == pytest.approx(sorted(r["best_val_acc"] for r in runs))
    first_lrs = sorted(r["history"][0]["lr"] for r in runs)
    assert sorted(float(t["params_trainer.lr"]) for t in trials) == pytest.approx(first_lrs)


def test_an_interrupted_search_resumes_with_its_history(exp_dir):
    """The first trial is interrupted mid-training (Ctrl-C at its 4th step: epoch 1 is saved). The same command then
    runs that trial's parameters again (in its folder, from its checkpoint) and the rest of ``n_trials``, with the
    sampler seeing every earlier trial; once all are done, the command has nothing left to run."""
    args = ["-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "name=tune", *TINY_JUMPNET, *TINY_DATA,
            "model._target_=tests.faulty.FaultyJumpNet", "trainer.epochs=2", "trainer.batch_size=64", "logger=none",
            "trainer.threads=1", f"paths.experiments_dir={exp_dir}"]
    sweep = exp_dir / "tune"
    first = run_py(args, timeout=240, JUMPNET_TEST_FAULT="interrupt_at:4")
    assert first.returncode == 130 and first.stderr.splitlines()[-1] == "interrupted", first.stderr[-3000:]
    journal = [json.loads(line) for line in (sweep / "optuna_journal.jsonl").read_text().splitlines()]
    assert [(e["event"], e["number"]) for e in journal] == [("started", 0)]
    interrupted = journal[0]["params"]

    again = run_py(args, timeout=240)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    with open(sweep / "optuna_trials.csv") as f:
        trials = list(csv.DictReader(f))
    assert [(t["number"], t["state"]) for t in trials] == [("0", "FAIL"), ("1", "COMPLETE"), ("2", "COMPLETE")]
    assert trials[0]["user_attrs_interrupted"] == "True"
    assert float(trials[1]["params_trainer.lr"]) == pytest.approx(interrupted["trainer.lr"])  # run again, as it was
    runs = [json.loads(p.read_text()) for p in sweep.rglob("metrics.json") if "previous" not in p.parts]
    resumed = [r for r in runs if r["history"][0]["lr"] == pytest.approx(interrupted["trainer.lr"])]
    assert len(runs) == 2 and [r["resumed_from_epoch"] for r in resumed] == [1]
    assert all(r["status"] == "completed" for r in runs)

    done = run_py(args, timeout=240)   # n_trials is the study's total: nothing is left to run
    assert done.returncode == 0 and "Launching" not in done.stdout + done.stderr, done.stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(r["best_val_acc"] for r in runs))
