"""Sweeps that survive: valid arms only, failures recorded, re-runs do only the unfinished work."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from jumpnet.plan import plan
from jumpnet.status import status_table
from tests.conftest import ROOT, TINY_DATA, WITH_TEST_CONF, find_runs, run_py, subprocess_env, wandb_summary

FAST = [*TINY_DATA, "trainer.epochs=1", *WITH_TEST_CONF]


def test_two_models_by_two_variants_leave_four_runs_in_separate_wandb_runs(exp_dir):
    out = run_py(["-m", "model=tiny_jumpnet,tiny_densenet", "ablation=full,no_links", "name=grid", *FAST,
                  "logger.tags=[study]", f"paths.experiments_dir={exp_dir}"])
    assert out.returncode == 0, out.stderr[-3000:]
    runs = find_runs(exp_dir / "grid")
    assert sorted(runs) == ["tiny_densenet-full-s0", "tiny_densenet-no_links-s0",
                            "tiny_jumpnet-full-s0", "tiny_jumpnet-no_links-s0"]
    assert all(r["status"] == "completed" for r in runs.values())
    assert runs["tiny_densenet-no_links-s0"]["params"] < runs["tiny_densenet-full-s0"]["params"]
    # one W&B run per job, finished, named and tagged by its arm (runs of a multirun never merge)
    summaries = {name: wandb_summary(p.parent) for name in runs for p in exp_dir.rglob(f"{name}/metrics.json")}
    assert len({s["run_id"] for s in summaries.values()}) == 4
    for name, s in summaries.items():
        # named by the run folder and the overrides its path holds: unique within the experiment
        assert s["state"] == "finished" and s["name"] == f"{name} [{next(exp_dir.rglob(name)).parent.name}]"
        assert s["tags"] == [runs[name]["model"], runs[name]["ablation"], "synthetic", "study"]  # + logger.tags
        assert s["config"]["name"] == "grid" and s["summary"]["test_acc"] == runs[name]["test_acc"]
        assert s["summary"]["val_acc"] == {"max": runs[name]["best_val_acc"]}   # define_metric: the best


def test_grid_keeps_only_valid_and_distinct_arms(exp_dir):
    out = run_py(["-m", "model=tiny_resnet_v2,tiny_sparsenet", "ablation=full,add,concat", "logger=none", *FAST,
                  f"paths.experiments_dir={exp_dir}"])
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "Not a valid arm" in log and "ResNetV2 cannot merge its links by 'concat'" in log
    assert "builds the same network as" in log   # resnet add == its full; sparsenet concat == its full
    assert sorted(find_runs(exp_dir)) == ["tiny_resnet_v2-full-s0", "tiny_sparsenet-add-s0", "tiny_sparsenet-full-s0"]


def test_a_failing_run_is_recorded_and_the_others_finish(exp_dir):
    out = run_py(["-m", "model=tiny_jumpnet", "data.train_subset=64,100000", "logger=none", *FAST,
                  f"paths.experiments_dir={exp_dir}"])
    assert out.returncode != 0
    assert out.stderr.splitlines()[-1].startswith("error: 1 of 2 runs did not complete: ")  # one line, no traceback
    assert "Fix: read error.txt in their folders" in out.stderr and "Traceback" not in out.stderr
    folders = {p.parent.parent.name: p.parent for p in exp_dir.rglob("metrics.json")}
    good = find_runs(next(v for k, v in folders.items() if "train_subset=64" in k))
    bad_dir = next(v for k, v in folders.items() if "train_subset=100000" in k)
    (good,) = good.values()
    (bad,) = find_runs(bad_dir).values()
    assert good["status"] == "completed"
    assert bad["status"] == "failed" and "data.train_subset=100000" in bad["error"]
    assert "DataError" in (bad_dir / "error.txt").read_text()


def test_rerun_after_an_interrupted_sweep_does_only_the_unfinished_work(exp_dir):
    args = ["-m", "model=tiny_jumpnet", "seed=0,1,2", "data=synthetic", "data.train_size=2048", "data.val_size=64",
            "data.test_size=64", "trainer.epochs=3", "trainer.threads=1", "logger=none", *WITH_TEST_CONF,
            f"paths.experiments_dir={exp_dir}"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    seed1 = None
    while time.time() < deadline and proc.poll() is None:
        seed1 = next(exp_dir.rglob("tiny_jumpnet-full-s1/checkpoint.pt"), None)
        if seed1 is not None:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert seed1 is not None, "the sweep should have reached seed 1"
    before = find_runs(exp_dir)
    assert list(before) == ["tiny_jumpnet-full-s0"], "only seed 0 finished before the kill"
    finished = next(exp_dir.rglob("tiny_jumpnet-full-s0/metrics.json"))
    first_record = finished.read_bytes()
    sweep = exp_dir / "default"
    before_reading = tree(exp_dir)

    # make status and make plan on the half-finished sweep: the same folders as the sweeper's, nothing written
    table, waiting, note = status_table(sweep)
    runs = {Path(r["run"]).name: r for r in table.to_dict("records")}
    assert note is None and set(runs) <= {"tiny_jumpnet-full-s0", "tiny_jumpnet-full-s1"}
    assert runs["tiny_jumpnet-full-s0"]["status"] == "completed" and runs["tiny_jumpnet-full-s0"]["epochs"] == "3/3"
    assert runs["tiny_jumpnet-full-s0"]["test acc"] and runs["tiny_jumpnet-full-s0"]["last update"]
    assert runs["tiny_jumpnet-full-s1"]["status"] in ("interrupted", "new")  # killed in its first epoch or later
    assert runs["tiny_jumpnet-full-s1"]["epochs"].endswith("/3")
    assert [Path(w).name for w in waiting] == ["tiny_jumpnet-full-s2"]
    planned = plan(args[1:], reports=exp_dir / "no-reports")
    assert "tiny_jumpnet-full-s0 | done" in planned and "tiny_jumpnet-full-s2 | to run " in planned
    assert "Totals: 3 arms (1 done, 2 to run)." in planned
    assert tree(exp_dir) == before_reading, "status and plan write nothing"

    out = run_py(args)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "1 already completed, 2 to launch" in log and "Already completed, skipped" in log
    assert finished.read_bytes() == first_record, "a finished run is never recomputed or rewritten"
    runs = find_runs(exp_dir)
    assert all(r["status"] == "completed" for r in runs.values()) and len(runs) == 3
    assert runs["tiny_jumpnet-full-s1"]["resumed_from_epoch"] >= 1      # resumed from its checkpoint
    assert runs["tiny_jumpnet-full-s2"]["resumed_from_epoch"] == 0      # never started before: trained fresh

    table, waiting, _ = status_table(sweep)  # the finished sweep
    assert list(table["status"]) == ["completed"] * 3 and list(table["epochs"]) == ["3/3"] * 3 and waiting == []


def tree(root: Path) -> dict[str, float]:
    """Every file under ``root`` with its modification time."""
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}
