"""Runs per GPU: concurrent jobs claim slots on the least busy GPU, and a claim dies with its process."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from jumpnet.run import gpus

CLAIM = ("import sys, time; from jumpnet.run.gpus import claim_gpu; "
         "print(claim_gpu(int(sys.argv[2]), sys.argv[1], per_gpu=int(sys.argv[3])), flush=True); time.sleep(60)")


def start_claims(n: int, lock_dir, count: int, per_gpu: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", CLAIM, str(lock_dir), str(count), str(per_gpu)],
                             stdout=subprocess.PIPE, text=True) for _ in range(n)]


def stop(jobs: list[subprocess.Popen]) -> None:
    gpus.release_gpus()
    for job in jobs:
        job.kill()
        job.wait()


def test_concurrent_jobs_claim_distinct_gpus_and_a_fourth_is_refused(tmp_path):
    jobs = start_claims(3, tmp_path, 3, 1)
    try:
        claimed = [int(job.stdout.readline()) for job in jobs]
        assert sorted(claimed) == [0, 1, 2]
        with pytest.raises(RuntimeError, match="all 3 visible GPUs are full.*max_batch_size=3"):
            gpus.claim_gpu(3, tmp_path)
        jobs[1].kill()          # a killed job frees its GPU for the next one
        jobs[1].wait()
        assert gpus.claim_gpu(3, tmp_path) == claimed[1]
    finally:
        stop(jobs)


def test_k_runs_per_gpu_started_at_once_fill_every_gpu_evenly(tmp_path):
    jobs = start_claims(4, tmp_path, 2, 2)  # all four race for 2 GPUs x 2 slots
    try:
        assert Counter(int(job.stdout.readline()) for job in jobs) == {0: 2, 1: 2}
        with pytest.raises(RuntimeError, match=r"runs_per_gpu=2.*max_batch_size=4"):
            gpus.claim_gpu(2, tmp_path, per_gpu=2)
    finally:
        stop(jobs)


def test_a_new_run_goes_to_the_gpu_with_fewest_runs_not_the_first_free_slot(tmp_path):
    jobs = []
    try:
        for _ in range(6):  # one at a time: GPU 0, 1, 0, 1, 0, 1 (slots 0, 0, 1, 1, 2, 2)
            jobs += start_claims(1, tmp_path, 2, 3)
            assert int(jobs[-1].stdout.readline()) == (len(jobs) - 1) % 2
        for i in (0, 3, 5):  # free GPU 0 slot 0, GPU 1 slots 1 and 2: GPU 0 holds 2 runs, GPU 1 holds 1
            jobs[i].kill()
            jobs[i].wait()
        assert gpus.busy_slots(2, 3, tmp_path) == [2, 1]
        assert gpus.claim_gpu(2, tmp_path, per_gpu=3) == 1  # GPU 0's free slot 0 comes first, but GPU 1 is emptier
        assert gpus.busy_slots(2, 3, tmp_path) == [2, 2]
    finally:
        stop(jobs)
