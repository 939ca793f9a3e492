"""Sweeps that survive: valid arms only, failures recorded, re-runs do only the unfinished work, every sweep
finishes its launch list and says how each run ended."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from jumpnet.run.folder import RunLock
from jumpnet.sweep.plan import plan
from jumpnet.sweep.status import status_table
from tests.conftest import (
    ROOT,
    TINY_DATA,
    WITH_TEST_CONF,
    find_runs,
    run_captured,
    run_py,
    subprocess_env,
    sweep_run_dirs,
    wandb_records,
    wandb_summary,
)

FAST = [*TINY_DATA, "trainer.epochs=1", *WITH_TEST_CONF]


def test_two_models_by_two_variants_leave_four_runs_in_separate_wandb_runs(exp_dir):
    """The variants set by field (ablation.links=false is the no_links preset): labelled by their values."""
    out = run_py(["-m", "model=tiny_jumpnet,tiny_densenet", "ablation.links=true,false", "name=grid", *FAST,
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
        assert s["tags"] == [runs[name]["model"], runs[name]["ablation"], "synthetic", "experiment=grid",
                             "study"]  # + logger.tags
        assert s["config"]["name"] == "grid" and s["summary"]["test_acc"] == runs[name]["test_acc"]
        run = next(r["run"] for p in exp_dir.rglob(f"{name}/metrics.json") for r in wandb_records(p.parent)
                   if r["type"] == "run")   # logger.group_by=arm (the default): the arm's seeds share a group
        assert run["run_group"] == f"grid/{name.removesuffix('-s0')} [{next(exp_dir.rglob(name)).parent.name}]"
        assert s["summary"]["val_acc"] == {"max": runs[name]["best_val_acc"]}   # define_metric: the best


def test_grid_keeps_only_valid_and_distinct_arms(exp_dir):
    out = run_py(["-m", "model=tiny_resnet_v2,tiny_sparsenet", "ablation=full,add,concat", "logger=none", *FAST,
                  f"paths.experiments_dir={exp_dir}"])
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "Not a valid arm" in log and "ResNetV2 cannot merge its links by 'concat'" in log
    assert "builds the same network as" in log   # resnet add == its full; sparsenet concat == its full
    assert sorted(find_runs(exp_dir)) == ["tiny_resnet_v2-full-s0", "tiny_sparsenet-add-s0", "tiny_sparsenet-full-s0"]
    summary = log[log.index("Sweep summary: 3 runs (3 completed), 3 arms left out of the grid"):]
    assert "left out" in summary and "model=tiny_resnet_v2 ablation=concat: not a valid arm (ResNetV2 cannot" in summary
    assert "model=tiny_sparsenet ablation=concat: builds the same network as tiny_sparsenet-full-s0" in summary


def test_a_failing_run_is_recorded_and_the_others_finish(exp_dir):
    out = run_py(["-m", "model=tiny_jumpnet", "data.train_subset=64,100000", "logger=none", *FAST,
                  f"paths.experiments_dir={exp_dir}"])
    assert out.returncode != 0
    assert out.stderr.splitlines()[-1].startswith("error: 1 of 2 runs did not complete")  # one line, no traceback
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
    planned = plan(args[1:], reports=exp_dir / "no-reports", runs=True)
    assert "tiny_jumpnet-full-s0 | done" in planned and "tiny_jumpnet-full-s2 | to run " in planned
    assert "Totals: 3 runs (1 done, 2 to run)." in planned
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


def start(cmd: list[str], env: dict, on_line=lambda line: None) -> tuple[subprocess.Popen, list[str], threading.Thread]:
    """Start ``cmd``; its stdout lines are collected (and shown to ``on_line``) as they come."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            on_line(line)

    reader = threading.Thread(target=read)
    reader.start()
    return proc, lines, reader


def finish(proc: subprocess.Popen, lines: list[str], reader: threading.Thread) -> str:
    err = proc.stderr.read()                               # until it ends (pytest-timeout guards a hang)
    proc.wait(timeout=60)
    reader.join(timeout=30)
    return "".join(lines) + err


# Defaults spelled out: nothing changes but the length of the folder name (over the 255-byte limit in full).
LONG = ["trainer.label_smoothing=0.0", "trainer.warmup_epochs=0", "trainer.weight_decay=0.0005", "trainer.gamma=0.1",
        "trainer.schedule=cosine", "trainer.milestones=[0.5,0.75]", "data.crop_padding=4", "data.flip=true",
        "trainer.eval_batch_size=512"]  # the job's own overrides respell some (data.flip=True): folders from Hydra


def test_every_sweep_finishes_its_launch_list_and_its_summary_tells_each_run(exp_dir):
    """A record that cannot be read, a run another process holds, divergence and folder names over the
    filesystem's limit: every job runs or becomes a row with its reason, and the exit code tells the truth."""
    task = ["trainer.lr=0.05,1e30", "seed=0,1", "model=tiny_jumpnet", *TINY_DATA, "trainer.epochs=1", "logger=none",
            *LONG, f"paths.experiments_dir={exp_dir}"]
    folder = dict(zip([("0.05", 0), ("0.05", 1), ("1e30", 0), ("1e30", 1)], sweep_run_dirs(task)))
    assert all(len(part.encode()) < 255 for d in folder.values() for part in d.parts)
    assert "+" in folder["0.05", 0].parent.name and "more-" in folder["0.05", 0].parent.name
    unreadable = folder["0.05", 1] / "metrics.json"
    unreadable.parent.mkdir(parents=True)
    unreadable.write_bytes(b"\xff\xfe not UTF-8")
    held = RunLock(folder["1e30", 1])
    assert held.acquire()                                  # this test is "another process" training that run
    cmd = [sys.executable, str(ROOT / "run.py"), "-m", *task, *WITH_TEST_CONF]
    # when the sweep waits for it, it lets go: the sweep then trains that run itself
    sweep = start(cmd, subprocess_env(),
                  lambda line: "Waiting for the other process training" in line and held.release())
    try:
        log = finish(*sweep)
    finally:
        held.release()
    proc, err = sweep[0], log[len("".join(sweep[1])):]
    assert proc.returncode == 1, log[-3000:]
    assert "Traceback" not in log and err.splitlines()[-1] == (
        f"error: 1 of 4 runs did not complete (the summary above says why): {folder['0.05', 1]} (not started). "
        f"Fix: fix what each reason says, then re-run the same command to retry only them")
    summary = log[log.index("Sweep summary: 4 runs (1 completed, 1 not started, 2 diverged):"):]
    assert f"{folder['0.05', 1]} (RecordUnreadable: unreadable: {unreadable}: not UTF-8; it is left" in summary
    assert "completed   test_acc=" in summary and f"not started                  {folder['0.05', 1]}" in summary
    assert f"diverged                     {folder['1e30', 0]} (" in summary and "became nan in epoch 1)" in summary
    assert f"Waiting for the other process training {folder['1e30', 1]}" in log   # then trained it itself
    runs = {d: json.loads((d / "metrics.json").read_text()) for key, d in folder.items() if key != ("0.05", 1)}
    assert [r["status"] for r in runs.values()] == ["completed", "diverged", "diverged"]
    assert unreadable.read_bytes() == b"\xff\xfe not UTF-8"   # left as it was

    # Once the damaged record is moved aside, the same command does the rest and exits 0: diverged is an outcome.
    unreadable.rename(unreadable.with_name("metrics.json.damaged"))
    again = run_captured(cmd, timeout=240)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Sweep summary: 4 runs (2 completed, 2 diverged):" in again.stdout
    assert again.stdout.count("skipped: done before") == 3 and "error:" not in again.stderr


def test_two_identical_sweeps_at_once_both_finish_and_train_each_run_once(exp_dir, tmp_path):
    """The first sweep holds seed 0 (its first step waits for a file) while the second starts: the second trains
    seed 1, then waits for seed 0; seed 0 finishes; the first finds seed 1 done. Both exit 0 and say so."""
    go = tmp_path / "go"
    cmd = [sys.executable, str(ROOT / "run.py"), "-m", "model=tiny_jumpnet",
           "model._target_=tests.faulty.FaultyJumpNet", "seed=0,1", *FAST, "logger=none",
           f"paths.experiments_dir={exp_dir}"]
    first = start(cmd, subprocess_env(JUMPNET_TEST_FAULT=f"wait_for:{go}"))
    deadline = time.time() + 120
    while not any("Model tiny_jumpnet" in line for line in first[1]) and time.time() < deadline \
            and first[0].poll() is None:
        time.sleep(0.02)                                   # the first sweep holds seed 0's lock: start the second
    second = start(cmd, subprocess_env(), lambda line: "Waiting for the other process" in line and go.touch())
    logs = [finish(*second)]
    go.touch()                                             # (already there, unless the second sweep failed)
    logs.append(finish(*first))
    for proc, log in zip((second[0], first[0]), logs):
        assert proc.returncode == 0 and "Traceback" not in log, log[-3000:]
        assert "Sweep summary: 2 runs (2 completed):" in log, log[-3000:]
    assert "done by another process while this sweep waited" in logs[0]
    assert "Already completed: " in logs[1]                # its seed-1 job found the second sweep's record
    assert sorted(find_runs(exp_dir)) == ["tiny_jumpnet-full-s0", "tiny_jumpnet-full-s1"]
    for run_log in exp_dir.rglob("run.log"):               # each run trained and tested once, by one process
        assert run_log.read_text().count("Test (") == 1, run_log
    assert not list(exp_dir.rglob("previous"))


def test_a_typo_in_a_sweep_stops_it_before_anything_runs(exp_dir):
    out = run_py(["-m", "model=tiny_jumpnet", "ablation.merge=add,sum", *FAST, "logger=none",
                  f"paths.experiments_dir={exp_dir}"])
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == "error: ablation.merge=sum is not one of concat, add"
    assert not exp_dir.exists(), "nothing ran, no folder was made"
