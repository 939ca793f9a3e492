"""A disk that fills up for real: a sweep on a 256 KiB tmpfs, mounted in a private mount namespace.

``unshare -rm`` (a user and mount namespace: no root needed where the kernel allows unprivileged user
namespaces) mounts the tmpfs where only the sweep sees it; the sweep's folder is copied out before the namespace
ends. Where namespaces are not permitted (some containers), the test is skipped; the same path is covered with an
injected ENOSPC in tests/test_robustness.py. A tiny JumpNet's checkpoint is about 130 KiB, so the first epoch's
checkpoint fits and the second does not (a checkpoint is written beside the last one, then renamed over it).
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, TINY_DATA, WITH_TEST_CONF, run_captured, subprocess_env

SIZE = "256k"


def can_mount_tmpfs(tmp_path) -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {tmp_path}"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def test_a_sweep_on_a_full_disk_records_every_run_and_finishes(tmp_path):
    mount, out = tmp_path / "disk", tmp_path / "copied"
    mount.mkdir()
    out.mkdir()
    if not can_mount_tmpfs(mount):
        pytest.skip("unshare -rm cannot mount a tmpfs here (no unprivileged user namespaces)")
    sweep = [sys.executable, str(ROOT / "run.py"), "-m", "model=tiny_jumpnet", "seed=0,1", *TINY_DATA,
             "trainer.epochs=3", "logger=none", *WITH_TEST_CONF, f"paths.experiments_dir={mount}"]
    script = (f"mount -t tmpfs -o size={SIZE} tmpfs {mount} && {shlex.join(sweep)}; code=$?; "
              f"cp -a {mount}/. {out}/; exit $code")
    done = run_captured(["unshare", "-rm", "sh", "-c", script], timeout=240, env=subprocess_env())
    log = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in log, log[-3000:]
    assert "Sweep summary: 2 runs (2 failed):" in log and done.stderr.splitlines()[-1].startswith(
        "error: 2 of 2 runs did not complete (the summary above says why): ")
    assert "checkpoint.pt: [Errno 28 ENOSPC] No space left on device; traceback in" in log
    assert not list(out.rglob("*.tmp")), "temp files removed"
    records = {p.parent.name: json.loads(p.read_text()) for p in out.rglob("metrics.json")}
    assert sorted(records) == ["tiny_jumpnet-full-s0", "tiny_jumpnet-full-s1"]
    for name, record in records.items():
        run_dir = next(out.rglob(name))
        assert record["status"] == "failed" and "No space left on device" in record["error"]
        assert "ENOSPC" in (run_dir / "error.txt").read_text()
    (first,) = out.rglob("tiny_jumpnet-full-s0/checkpoint.pt")
    assert torch.load(first, weights_only=True)["epoch"] == records["tiny_jumpnet-full-s0"]["epochs"] >= 1
