"""Shared test helpers: run the real entry points in subprocesses, with tiny models on tiny data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CIFAR_ARCHIVE = Path(os.environ.get("JUMPNET_DATA_ARCHIVE", ROOT.parent / "shared/datasets/cifar10-jpeg.tar.xz"))

# A JumpNet of ~5k parameters: the real code path, seconds per epoch on 2 cores.
TINY_JUMPNET = ["model.stem=[4,8]", "model.groups=[[8,1],[16,1]]"]
TINY_DATA = ["data=synthetic", "data.train_size=256", "data.test_size=128", "data.val_size=64"]

SPEC_KEYS = {"model", "ablation", "seed", "status", "params", "flops", "macs", "feature_map", "size_mb",
             "test_acc", "test_loss", "best_val_acc", "epochs", "train_time_s", "throughput", "device",
             "git_sha", "history"}
HISTORY_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s"}


def subprocess_env(**extra: str) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", **extra}
    env.pop("JUMPNET_DATA_ARCHIVE", None) if extra.get("JUMPNET_DATA_ARCHIVE") == "" else None
    return env


def run_py(args: list[str], cwd: Path = ROOT, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """``python run.py ARGS`` as a user types it; output captured for assertions."""
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=subprocess_env(**env))


def run_module(module: str, args: list[str], timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=subprocess_env(**env))


def find_runs(root: Path) -> dict[str, dict]:
    """Every run record under ``root``, keyed by its folder name (``<model>-<ablation>-s<seed>``)."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(Path(root).rglob("metrics.json"))
            if "previous" not in p.parts}


@pytest.fixture(scope="module")
def one_thread():
    """Tiny CPU forwards: one thread is fastest, and immune to oversubscription on a shared machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def exp_dir(tmp_path: Path) -> Path:
    return tmp_path / "experiments"

TEST_CONF = ROOT / "tests" / "conf"   # test-sized presets of every model family: tiny_<model>
WITH_TEST_CONF = [f"hydra.searchpath=[file://{TEST_CONF}]"]


def _leet_inspect(run_dir: Path, *flags: str) -> str:
    (offline,) = (Path(run_dir) / "wandb").glob("offline-run-*")
    out = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", *flags, "--json",
                          str(offline)], capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert out.returncode == 0, out.stderr
    return out.stdout


def wandb_summary(run_dir: Path) -> dict:
    """What W&B recorded for an offline run, read back from its transaction log."""
    return json.loads(_leet_inspect(run_dir, "--summary"))


def wandb_records(run_dir: Path) -> list[dict]:
    """Every record of an offline run's transaction log (run, metric, summary, artifact, ...), read back by wandb."""
    return [json.loads(line) for line in _leet_inspect(run_dir).splitlines() if line.strip()]
