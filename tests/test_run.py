"""``run.py`` end to end in a subprocess: the run folder contract, resume, and every bad input."""
from __future__ import annotations

import json
import platform
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from jumpnet.train.memory_format import onednn_runs_avx512
from tests.conftest import (
    HISTORY_KEYS,
    ROOT,
    SPEC_KEYS,
    TINY_DATA,
    TINY_JUMPNET,
    find_runs,
    run_py,
    subprocess_env,
    wandb_summary,
)


def test_one_epoch_leaves_a_complete_run_folder(exp_dir):
    args = [*TINY_DATA, *TINY_JUMPNET, "trainer.epochs=1", "trainer.deterministic=true",
            f"paths.experiments_dir={exp_dir}"]
    out = run_py(args)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = [p.parent for p in exp_dir.rglob("metrics.json")]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert SPEC_KEYS <= set(record)
    # the reproducibility record
    assert isinstance(record["git_dirty"], bool) and record["host"] == socket.gethostname()
    assert record["python_version"] == platform.python_version() and record["torch_version"] == torch.__version__
    assert record["torchvision_version"] and record["cuda_version"] == torch.version.cuda
    assert "cudnn_version" in record and record["gpu"] is None and record["deterministic"] is True
    assert record["status"] == "completed" and record["model"] == "jumpnet" and record["ablation"] == "full"
    assert record["epochs"] == 1 and set(record["history"][0]) >= HISTORY_KEYS
    assert 0 <= record["test_acc"] <= 1 and 0 <= record["best_val_acc"] <= 1
    assert record["params"] == 5150 and record["feature_map"] == [32, 8, 8] and record["macs"] * 2 == record["flops"]
    assert record["throughput"] > 0 and record["device"] == "cpu" and len(record["git_sha"]) == 40
    assert record["channels_last"] is onednn_runs_avx512()  # auto on the CPU: channels_last only on AVX-512 kernels
    assert (run_dir / ".hydra" / "config.yaml").exists() and "Test (" in (run_dir / "run.log").read_text()
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and "optimizer" in state and "scheduler" in state
    # W&B offline: a real run file and its output log, inside the run folder
    (wandb_run,) = (run_dir / "wandb").glob("offline-run-*")
    assert list(wandb_run.glob("run-*.wandb")) and (wandb_run / "files").is_dir()

    # Running the same command again keeps the finished run untouched.
    before = (run_dir / "metrics.json").read_bytes()
    again = run_py(args)
    assert again.returncode == 0 and "Already completed" in again.stdout + again.stderr
    assert (run_dir / "metrics.json").read_bytes() == before

    # Asked to, it trains again and keeps the earlier record under previous/, and starts a new W&B run.
    first_id = wandb_summary(run_dir)["run_id"]
    over = run_py([*args, "trainer.overwrite=true"])
    assert over.returncode == 0, over.stderr[-2000:]
    (kept,) = (run_dir / "previous").glob("*/metrics.json")
    assert kept.read_bytes() == before and (kept.parent / "checkpoint.pt").exists()
    assert wandb_summary(kept.parent)["run_id"] == first_id              # the old W&B run, kept with its record
    new = wandb_summary(run_dir)
    assert new["run_id"] != first_id and new["state"] == "finished"


def test_killed_run_resumes_from_its_checkpoint(exp_dir, tmp_path):
    args = ["data=synthetic", "data.train_size=3072", "data.val_size=64", "data.test_size=64", *TINY_JUMPNET,
            "trainer.epochs=5", "logger=none", "trainer.threads=1"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, f"paths.experiments_dir={exp_dir}"],
                            cwd=ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(exp_dir.rglob("checkpoint.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (ckpt,) = exp_dir.rglob("checkpoint.pt")
    run_dir = ckpt.parent
    assert not (run_dir / "metrics.json").exists(), "killed before finishing: no record yet"
    killed_at = torch.load(ckpt, weights_only=True)["epoch"]
    assert 1 <= killed_at < 5

    out = run_py([*args, f"paths.experiments_dir={exp_dir}"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"after epoch {killed_at}" in out.stdout + out.stderr
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["resumed_from_epoch"] == killed_at
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3, 4, 5]

    # The resumed run is the run that was never interrupted: same batches, same weights, same losses.
    clean = run_py([*args, f"paths.experiments_dir={tmp_path / 'clean'}"])
    assert clean.returncode == 0
    (reference,) = find_runs(tmp_path / "clean").values()
    for resumed, uninterrupted in zip(record["history"], reference["history"]):
        assert resumed["train_loss"] == pytest.approx(uninterrupted["train_loss"], rel=1e-4)
    assert record["test_acc"] == pytest.approx(reference["test_acc"], abs=1e-9)


def test_nan_loss_ends_the_run_as_diverged(exp_dir):
    out = run_py([*TINY_DATA, *TINY_JUMPNET, "trainer.epochs=3", "trainer.lr=1e30", "trainer.batch_size=64",
                  "logger=none", f"paths.experiments_dir={exp_dir}"])  # 3 steps an epoch: NaN within epoch 1
    assert out.returncode == 0, out.stderr[-2000:]
    (record,) = find_runs(exp_dir).values()
    assert record["status"] == "diverged" and record["test_acc"] is None
    assert record["epochs"] == 1 and "training loss became" in record["notes"][0]


@pytest.mark.parametrize("override,message", [
    (["data=synthetic", "model=resnet9000"],
     "error: model=resnet9000 is not an option of the model group; did you mean resnet_v2?"),
    (["data=synthetic", "trainer.epoch=2"], "error: trainer.epoch is not a config key; did you mean trainer.epochs?"),
    (["data=synthetic", "model.groups=[[32,3],[32,3]]"], "model.groups[1]=(32, 3) receives 64 channels"),
    (["data=cifar10", "data.archive=/nonexistent/cifar.tar.xz"],
     "data.archive='/nonexistent/cifar.tar.xz' does not exist"),
    (["data=cifar10", "data.archive=null", "data.download=false", "data.root=/nonexistent-root"], "data.download=true"),
    (["data=synthetic", "ablation=no_links", "ablation.merge=add"], "ablation.merge='add' has no meaning"),
    (["data=synthetic", "trainer.lr=-1"], "error: trainer.lr=-1.0 must be > 0"),
])
def test_bad_input_fails_with_a_clear_message(exp_dir, override, message):
    out = run_py(["trainer.epochs=1", "logger=none", f"paths.experiments_dir={exp_dir}", *override])
    assert out.returncode != 0
    assert message in out.stdout + out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) <= 3, out.stderr  # a line, not a traceback
    assert "Data " not in out.stdout + out.stderr or "data." in message, "config errors must come before any work"
    unstarted = [p.parent for p in exp_dir.rglob(".hydra") if not (p.parent / "metrics.json").exists()]
    assert not unstarted, "a config error leaves no folder for a report to list as unfinished"
