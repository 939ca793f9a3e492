"""Parallel runs on one machine: ``hydra/launcher=submitit_local``, and the lock that keeps two
processes from ever training the same run folder at once."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.conftest import ROOT, TINY_DATA, TINY_JUMPNET, find_runs, run_py, subprocess_env

LOCAL = ["hydra/launcher=submitit_local", "logger=none", "trainer.threads=1", *TINY_JUMPNET, *TINY_DATA]


def test_local_sweep_runs_each_run_as_a_submitit_job(exp_dir):
    out = run_py(["-m", *LOCAL, "trainer.epochs=1", "seed=0,1", "hydra.sweeper.max_batch_size=1",
                  "trainer.compile=false", f"paths.experiments_dir={exp_dir}"], timeout=240)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    runs = find_runs(exp_dir)
    assert sorted(runs) == ["jumpnet-full-s0", "jumpnet-full-s1"]
    # each job resolved ${folder_excluded_keys:} in its own process: no launcher, logger, threads or compile level
    levels = {p.parent.parent.name for p in exp_dir.rglob("jumpnet-full-s*/metrics.json")}
    assert levels == {"data.test_size=128,data.train_size=256,data.val_size=64,data=synthetic,"
                      "model.groups=[[8,1],[16,1]],model.stem=[4,8],trainer.epochs=1"}
    assert all(r["status"] == "completed" and r["slurm_job_id"] is None for r in runs.values())
    # each job's logs under <sweep>/.submitit/<job id>/
    logs = list((exp_dir / "default" / ".submitit").glob("*/*_0_log.out"))
    assert len(logs) == 2 and all("Test (128 images" in p.read_text() for p in logs)
    # max_batch_size=1: two launches of one job each, the second after the first finished
    assert text.count("Submitit 'local' sweep output dir") == 2
    first, second = runs["jumpnet-full-s0"], runs["jumpnet-full-s1"]
    assert second["started_at"] >= first["finished_at"]


def test_a_second_process_on_the_same_run_is_refused(exp_dir):
    args = ["data=synthetic", "data.train_size=4096", "data.val_size=64", "data.test_size=64", *TINY_JUMPNET,
            "trainer.epochs=20", "logger=none", "trainer.threads=1", f"paths.experiments_dir={exp_dir}"]
    first = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=subprocess_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and first.poll() is None:
            locks = list(exp_dir.rglob(".lock"))
            if locks and "\non " in locks[0].read_text():
                break
            time.sleep(0.05)
        (lock,) = exp_dir.rglob(".lock")
        run_dir = lock.parent

        second = run_py(args, timeout=120)
        text = second.stdout + second.stderr
        assert second.returncode != 0
        assert f"is being trained by another process (pid {first.pid} on " in text, text[-2000:]
        assert first.poll() is None, "the first process trains on, undisturbed"
        assert not (run_dir / "metrics.json").exists() and not (run_dir / "error.txt").exists()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
