"""Shared test helpers: run the real entry points in subprocesses, with tiny models on tiny data."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if "PYTEST_XDIST_WORKER" not in os.environ:  # the session's own cost cache (jumpnet.paths.cost_store), workers share it
    os.environ["JUMPNET_CACHE_DIR"] = tempfile.mkdtemp(prefix="jumpnet-test-cache-")
CIFAR_ARCHIVE = Path(os.environ.get("JUMPNET_DATA_ARCHIVE", ROOT.parent / "shared/datasets/cifar10-jpeg.tar.xz"))

# A JumpNet of ~5k parameters: the real code path, seconds per epoch on 2 cores.
TINY_JUMPNET = ["model.stem=[4,8]", "model.groups=[[8,1],[16,1]]"]
TINY_DATA = ["data=synthetic", "data.train_size=256", "data.test_size=128", "data.val_size=64"]

SPEC_KEYS = {"model", "ablation", "seed", "status", "params", "flops", "macs", "feature_map", "size_mb",
             "test_acc", "test_loss", "best_val_acc", "epochs", "train_time_s", "throughput", "device",
             "git_sha", "history"}
HISTORY_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time_s"}


# Children train single-threaded (tools/onednn_avx2_repro.py: two OpenMP threads can hang in oneDNN on
# AVX2-only CPUs) and dump every thread's Python stack on a fatal signal, which `run_captured` sends on timeout.
SUBPROCESS_ENV = {"PYTHONUNBUFFERED": "1", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", "PYTHONFAULTHANDLER": "1",
                  "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def subprocess_env(**extra: str) -> dict:
    env = {**os.environ, **SUBPROCESS_ENV, **extra}
    env.pop("JUMPNET_DATA_ARCHIVE", None) if extra.get("JUMPNET_DATA_ARCHIVE") == "" else None
    return env


def run_captured(cmd: list[str], timeout: float, cwd: Path = ROOT,
                 env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` to completion, output captured; past ``timeout`` fail the test with the child's stacks.

    On timeout the child gets SIGABRT, on which faulthandler (PYTHONFAULTHANDLER=1) prints every thread's
    stack to its stderr; that stderr is in the failure message, so a hang says where it hung.
    """
    proc = subprocess.Popen(cmd, cwd=cwd, env=env or subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd[1:])} did not finish within {timeout:.0f} s; its stacks (SIGABRT) and output:\n"
                    f"--- stderr ---\n{err[-8000:]}\n--- stdout ---\n{out[-2000:]}", pytrace=False)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_py(args: list[str], cwd: Path = ROOT, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """``python run.py ARGS`` as a user types it; output captured for assertions."""
    return run_captured([sys.executable, str(ROOT / "run.py"), *args], timeout, cwd, subprocess_env(**env))


def run_module(module: str, args: list[str], timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return run_captured([sys.executable, "-m", module, *args], timeout, ROOT, subprocess_env(**env))


def find_runs(root: Path) -> dict[str, dict]:
    """Every run record under ``root``, keyed by its folder name (``<model>-<ablation>-s<seed>``)."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(Path(root).rglob("metrics.json"))
            if "previous" not in p.parts}


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker per core this process may use (its CPU affinity, not the host's count, which a
    container or ``taskset`` narrows); every test computes single-threaded, so N workers keep N cores busy."""
    return max(1, len(os.sched_getaffinity(0)))


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Every in-process test computes single-threaded: two OpenMP threads can hang in oneDNN's AVX2 kernels
    (tools/onednn_avx2_repro.py), and for tiny models one thread is as fast and immune to oversubscription."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def report_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real multirun for the report's tests: tiny JumpNet, synthetic data, full/no_links/add x seeds 0, 1, 2 epochs
    (about 10 s); tests copy it before they change anything."""
    experiments = tmp_path_factory.mktemp("report") / "experiments"
    proc = run_py(["-m", "model=jumpnet", "ablation=full,no_links,add", "seed=0,1", "trainer.epochs=2", "logger=none",
                   "name=report_test", *TINY_JUMPNET, *TINY_DATA, f"paths.experiments_dir={experiments}"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return experiments / "report_test"


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


def sweep_run_dirs(task_args: list[str], hydra_args: list[str] = WITH_TEST_CONF) -> list[Path]:
    """The run folders ``run.py -m TASK_ARGS HYDRA_ARGS`` gives its jobs, in launch order, from Hydra's own parser."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from jumpnet.paths import CONF_DIR

    jobs = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(task_args), None)[0]
    dirs = []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for job in jobs:
            cfg = compose(config_name="config", overrides=[*job, *hydra_args], return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
            dirs.append(Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir))
    return dirs
