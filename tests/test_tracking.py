"""W&B, written offline through our tracker and read back with the wandb package: summary, tags, group, artifact,
run names, and the README's sync command run as bash runs it by default."""
from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from jumpnet.config.compose import compose_config
from jumpnet.run.tracking import WEIGHTS, make_tracker, run_group, run_name
from tests.conftest import ROOT, wandb_records, wandb_summary

EPOCHS = [(1, 0.30, 1.9), (2, 0.60, 1.1), (3, 0.50, 1.3)]  # the best val_acc is not the last one


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, nn.Module]:
    """One offline W&B run through WandbTracker, as the pipeline drives it, in a sweep-shaped folder."""
    root = tmp_path_factory.mktemp("tracking")
    old = {k: os.environ.get(k) for k in ("WANDB_DATA_DIR", "WANDB_CONSOLE", "WANDB_SILENT")}
    os.environ.update(WANDB_DATA_DIR=str(root / "wandb-data"), WANDB_CONSOLE="off", WANDB_SILENT="true")
    sweep = root / "experiments" / "study"
    run_dir = sweep / "trainer.lr=0.05" / "jumpnet-full-s0"
    run_dir.mkdir(parents=True)
    cfg = compose_config(["name=study", "logger.group=ablation-g", "logger.tags=[paper]", "logger.log_checkpoint=true"])
    record = {"model": "jumpnet", "ablation": "full", "seed": 0, "best_epoch": 2, "best_val_acc": 0.60,
              "params": 42, "test_acc": 0.55, "test_loss": 1.2, "history": [{"epoch": 1}]}
    model = nn.Linear(3, 2)
    try:
        with make_tracker(cfg.logger, run_dir, {"name": "study"}, name=run_name(run_dir, sweep),
                          tags=["jumpnet", "full", "cifar10"]) as tracker:
            for epoch, val_acc, val_loss in EPOCHS:
                tracker.log_epoch({"epoch": epoch, "train_loss": 2.0 - epoch / 10, "val_acc": val_acc,
                                   "val_loss": val_loss, "lr": 0.1})
            tracker.log_weights(model, {k: record[k] for k in ("model", "best_epoch", "test_acc")})
            tracker.summary(record)
    finally:
        for key, value in old.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    return run_dir, record, model


def test_summary_holds_the_best_val_acc_its_epoch_and_the_final_test_metrics(tracked):
    run_dir, record, _ = tracked
    s = wandb_summary(run_dir)
    assert s["state"] == "finished"
    summary = s["summary"]
    assert summary["val_acc"] == {"max": 0.60} and summary["val_loss"] == {"min": 1.1}  # define_metric, not epoch 3's
    assert summary["best_val_acc"] == 0.60 and summary["best_epoch"] == 2
    assert summary["test_acc"] == 0.55 and summary["test_loss"] == 1.2 and summary["epoch"] == 3
    assert "history" not in summary


def test_group_tags_and_name_come_from_the_config_and_the_run_folder(tracked):
    run_dir, _, _ = tracked
    run = next(r["run"] for r in wandb_records(run_dir) if r["type"] == "run")
    assert run["run_group"] == "ablation-g"                                   # logger.group
    assert run["tags"] == ["jumpnet", "full", "cifar10", "paper"]             # automatic, then logger.tags
    assert run["display_name"] == "jumpnet-full-s0 [trainer.lr=0.05]"


def test_log_checkpoint_uploads_the_selected_weights_as_a_model_artifact(tracked):
    run_dir, _, model = tracked
    (artifact,) = [r["artifact"] for r in wandb_records(run_dir) if r["type"] == "artifact"]
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    assert artifact["type"] == "model" and artifact["name"] == f"model-{run_id}"
    assert {"selected", "epoch-2"} <= set(artifact["aliases"])
    assert [c["path"] for c in artifact["manifest"]["contents"]] == [WEIGHTS]
    saved = torch.load(run_dir / WEIGHTS, weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_every_optuna_trial_gets_its_own_run_name(tmp_path):
    sweep = tmp_path / "tune"
    trials = [sweep / f"trainer.batch_size=64/trainer.lr={lr}" / "jumpnet-full-s0" for lr in (0.01, 0.2, 0.031)]
    names = [run_name(t, sweep) for t in trials]
    assert len(set(names)) == 3 and names[0] == "jumpnet-full-s0 [trainer.batch_size=64,trainer.lr=0.01]"
    assert run_name(sweep / "jumpnet-full-s0", sweep) == "jumpnet-full-s0"   # no overrides: the folder name


def test_readme_sync_command_finds_every_offline_run_in_bash_defaults(tracked, tmp_path):
    """The README's `wandb sync` line, run by a plain `bash -c` (no globstar), with a stand-in `wandb` that
    prints what it was given: it must reach the offline run two folders below the experiment."""
    run_dir, _, _ = tracked
    (command,) = [line.strip() for line in (ROOT / "README.md").read_text().splitlines() if "-exec wandb sync" in line]
    experiments = run_dir.parents[2]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "wandb"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    script = re.sub(r"experiments/<name>", "experiments/study", command)
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                         cwd=experiments.parent, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert out.returncode == 0, out.stderr
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    assert out.stdout.split() == ["sync", str(offline.relative_to(experiments.parent))]


def test_runs_are_grouped_by_arm_by_default_so_w_and_b_aggregates_an_arms_seeds(tmp_path):
    """``logger.group_by=arm`` (the default): every seed of one arm, and nothing else, in one group; the experiment
    is a tag. ``logger.group_by=experiment``: one group per sweep; ``logger.group`` wins over both."""
    sweep = tmp_path / "experiments" / "study"
    folder = sweep / "trainer.lr=0.05"
    cfg = compose_config(["name=study"])
    assert cfg.logger.group is None and cfg.logger.group_by == "arm"
    groups = {name: run_group(cfg.logger, "study", folder / name, sweep)
              for name in ("jumpnet-full-s0", "jumpnet-full-s1", "jumpnet-no_links-s0", "jumpnet-no_links-s12")}
    assert groups["jumpnet-full-s0"] == groups["jumpnet-full-s1"] == "study/jumpnet-full [trainer.lr=0.05]"
    assert groups["jumpnet-no_links-s0"] == groups["jumpnet-no_links-s12"] != groups["jumpnet-full-s0"]
    assert run_group(cfg.logger, "study", sweep / "trainer.lr=0.1" / "jumpnet-full-s0", sweep) \
        != groups["jumpnet-full-s0"]                                   # another setting: another arm
    by_experiment = compose_config(["name=study", "logger.group_by=experiment"])
    assert run_group(by_experiment.logger, "study", folder / "jumpnet-full-s0", sweep) == "study"
    named = compose_config(["name=study", "logger.group=mine"])
    assert run_group(named.logger, "study", folder / "jumpnet-full-s0", sweep) == "mine"
    long_name = run_group(cfg.logger, "study", sweep / ("x" * 300) / "jumpnet-full-s0", sweep)
    assert len(long_name) == 128 and long_name.startswith("study/jumpnet-full [xxx")   # W&B's limit, still unique
