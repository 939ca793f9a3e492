"""Sweeps on a real SLURM cluster (one node, on localhost) through ``hydra/launcher=submitit_slurm``.

The cluster is started here from apt's slurmctld, slurmd and munged (see tests/slurm_cluster.py);
where they are not installed the tests skip, except in CI (``CI=true``), where that is a failure.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, TINY_JUMPNET, find_runs, subprocess_env
from tests.slurm_cluster import SlurmCluster, missing_binaries

# One CPU per job, no GPU, a short limit: what the one-node test cluster offers.
SLURM = ["hydra/launcher=submitit_slurm", "hydra.launcher.gpus_per_node=null", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=null", "hydra.launcher.timeout_min=10", "logger=none", "trainer.threads=1",
         "trainer.progress=log", *TINY_JUMPNET]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> SlurmCluster:
    missing = missing_binaries()
    if missing:
        reason = f"SLURM is not installed here ({', '.join(missing)} not on PATH; .ci/run installs it from apt)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the SLURM tests: {reason}")
        pytest.skip(reason)
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def sweep(args: list[str], exp_dir: Path, cluster: SlurmCluster) -> subprocess.Popen:
    """``python run.py -m ARGS`` against the test cluster; it blocks until its jobs are done."""
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "-m", *SLURM, *args,
                             f"paths.experiments_dir={exp_dir}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=subprocess_env(SLURM_CONF=str(cluster.conf)))


def finish(proc: subprocess.Popen, cluster: SlurmCluster, timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"sweep still running after {timeout:.0f}s; queue {cluster.squeue()}\n{out[-3000:]}\n"
                    f"{cluster.logs()}")
    assert proc.returncode == 0, out[-4000:]
    return out


def test_sweep_runs_each_run_as_a_slurm_job(slurm, exp_dir):
    out = finish(sweep(["data=synthetic", "data.train_size=256", "data.val_size=64", "data.test_size=64",
                        "trainer.epochs=1", "seed=0,1"], exp_dir, slurm), slurm, timeout=120)
    runs = find_runs(exp_dir)
    assert sorted(runs) == ["jumpnet-full-s0", "jumpnet-full-s1"]
    submitit_dirs = {p.name for p in (exp_dir / "default" / ".submitit").iterdir() if p.name != "%j"}
    for record in runs.values():
        assert record["status"] == "completed" and record["requeued"] == 0
        assert re.fullmatch(r"\d+_\d", record["slurm_job_id"]), record["slurm_job_id"]
        assert record["slurm_job_id"] in submitit_dirs  # its logs sit under <sweep>/.submitit/<job id>/
    assert len({r["slurm_job_id"] for r in runs.values()}) == 2
    assert "Submitit 'slurm' sweep output dir" in out and out.count("completed   test_acc=") == 2


def test_requeued_job_resumes_from_its_checkpoint(slurm, exp_dir):
    epochs = 6  # a few seconds each: long enough to requeue the job in the middle of its training
    proc = sweep(["data=synthetic", "data.train_size=3072", "data.val_size=64", "data.test_size=64",
                  f"trainer.epochs={epochs}", "seed=7"], exp_dir, slurm)
    deadline = time.time() + 90
    while not list(exp_dir.rglob("checkpoint.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    (ckpt,) = exp_dir.rglob("checkpoint.pt")
    (job,) = [j for j in slurm.squeue() if j["state"] == "RUNNING"]
    slurm.scontrol("requeue", job["id"])
    requeued_at = torch.load(ckpt, weights_only=True)["epoch"]
    out = finish(proc, slurm, timeout=150)

    record = json.loads((ckpt.parent / "metrics.json").read_text())
    assert record["status"] == "completed" and record["slurm_job_id"] == job["id"]
    assert record["requeued"] >= 1 and record["resumed_from_epoch"] >= max(1, requeued_at)
    assert [h["epoch"] for h in record["history"]] == list(range(1, epochs + 1))
    assert "(requeued)" in out  # the sweep summary says which runs were requeued
    log = (exp_dir / "default" / ".submitit" / job["id"] / f"{job['id']}_0_log.out").read_text()
    assert f"Resumed from {ckpt} after epoch" in log
