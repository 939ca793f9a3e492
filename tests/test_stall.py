"""The stall watchdog: a run whose steps stop finishing is recorded as failed (stalled) and its process exits."""
from __future__ import annotations

import json
import threading
import time

from jumpnet.train.watchdog import STALL_EXIT_CODE, StallWatchdog, heartbeat
from tests.conftest import TINY_DATA, TINY_JUMPNET, run_py


def test_watchdog_fires_only_when_beats_stop(tmp_path):
    fired, exits = [], []
    dog = StallWatchdog(0.3, tmp_path / "error.txt", fired.append, exit=exits.append)
    with dog:
        for _ in range(8):  # beating every 0.1 s for 0.8 s: never stalled
            time.sleep(0.1)
            heartbeat()
        assert not fired
        time.sleep(1.0)  # silence
    assert exits == [STALL_EXIT_CODE] and len(fired) == 1 and fired[0].startswith("stalled: no training")
    dump = (tmp_path / "error.txt").read_text()
    assert "trainer.stall_timeout_s=0.3" in dump
    assert f"Thread 0x{threading.main_thread().ident:016x}" in dump and "test_stall.py" in dump  # every thread's stack


def test_disabled_watchdog_starts_no_thread(tmp_path):
    before = threading.active_count()
    with StallWatchdog(None, tmp_path / "error.txt", lambda msg: None):
        assert threading.active_count() == before


def test_stalled_run_is_recorded_failed_and_resumes_on_rerun(exp_dir):
    args = [*TINY_DATA, *TINY_JUMPNET, "model._target_=tests.stalling.StallingJumpNet", "trainer.epochs=3",
            "trainer.batch_size=64", "logger=none", f"paths.experiments_dir={exp_dir}"]
    # 192 training images (64 held out) at batch 64: 3 steps per epoch; step 6 is the last of epoch 2.
    out = run_py([*args, "trainer.stall_timeout_s=5"], timeout=120, JUMPNET_TEST_STALL_AT_STEP="6")
    assert out.returncode == STALL_EXIT_CODE, out.stderr[-3000:]
    (run_dir,) = [p.parent for p in exp_dir.rglob("metrics.json")]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "failed" and record["reason"] == "stalled" and record["epochs"] == 1
    error = (run_dir / "error.txt").read_text()
    assert "stalled: no training or evaluation step finished" in error
    assert "stalling.py" in error and "in forward" in error  # the stuck thread's stack names where it hung

    again = run_py(args, timeout=120)  # not stalling now; the timeout is not part of the run's identity
    assert again.returncode == 0, again.stderr[-3000:] + (run_dir / "error.txt").read_text()[:3000]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["resumed_from_epoch"] == 1 and record["epochs"] == 3
