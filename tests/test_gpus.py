"""One run per GPU: concurrent jobs claim distinct GPUs, and a claim dies with its process."""
from __future__ import annotations

import subprocess
import sys

import pytest

from jumpnet import gpus

CLAIM = "import sys, time; from jumpnet.gpus import claim_gpu; print(claim_gpu(3, sys.argv[1]), flush=True); time.sleep(60)"


def test_concurrent_jobs_claim_distinct_gpus_and_a_fourth_is_refused(tmp_path):
    jobs = [subprocess.Popen([sys.executable, "-c", CLAIM, str(tmp_path)], stdout=subprocess.PIPE, text=True)
            for _ in range(3)]
    try:
        claimed = [int(job.stdout.readline()) for job in jobs]
        assert sorted(claimed) == [0, 1, 2]
        with pytest.raises(RuntimeError, match="all 3 visible GPUs are claimed.*max_batch_size=3"):
            gpus.claim_gpu(3, tmp_path)
        jobs[1].kill()          # a killed job frees its GPU for the next one
        jobs[1].wait()
        assert gpus.claim_gpu(3, tmp_path) == claimed[1]
    finally:
        gpus.release_gpus()
        for job in jobs:
            job.kill()
            job.wait()
