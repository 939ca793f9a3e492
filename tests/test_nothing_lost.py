"""Nothing lost, nothing invented: each way a record could be lost or lie, a folder collide, a lock outlive its
process or a failure leave debris, reproduced (issue 21, "Why" points 1-7 and 9; point 3's property-based half is in
tests/test_records_on_read.py, point 8 in tests/test_one_line.py, point 10 in tests/test_optuna.py).

In-process through the real task function where a fault can be injected (``tests/faulty.py``), in a subprocess
where the point is what a user's command does (a folder Hydra makes, a signal, a killed process)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import torch

import jumpnet.run.attempts
import jumpnet.train.throughput
from jumpnet.data import DataError, load_arrays
from jumpnet.data import identity as data_identity_module
from jumpnet.errors import JumpnetError
from jumpnet.run.folder import RunLock, lock_holder, run_status
from jumpnet.run.pipeline import execute
from jumpnet.run.record import RunRecord
from jumpnet.sweep.status import status_table
from tests.conftest import ROOT, TINY_DATA, TINY_JUMPNET, WITH_TEST_CONF, run_captured, run_py, subprocess_env
from tests.test_data import data_cfg, make_imagefolder_tar
from tests.test_robustness import config, record

SMALL = [*TINY_DATA, *TINY_JUMPNET, "logger=none", "trainer.threads=1"]
# 3072 training images at batch 128: an epoch takes a few seconds, long enough to signal a run mid-training.
LONG = ["data=synthetic", "data.train_size=3072", "data.val_size=64", "data.test_size=64", *TINY_JUMPNET,
        "logger=none", "trainer.threads=1"]


def valid_record(**changes) -> dict:
    """A whole completed record, as a run writes it."""
    row = {"epoch": 1, "train_loss": 2.0, "train_acc": 0.25, "val_loss": 2.1, "val_acc": 0.3, "lr": 0.1, "time_s": 1.0}
    done = RunRecord(model="jumpnet", ablation="full", seed=0, status="completed", params=5150, flops=2000, macs=1000,
                     feature_map=[32, 8, 8], size_mb=0.02, test_acc=0.3, test_loss=2.05, best_val_acc=0.3,
                     train_time_s=1.0, throughput=100.0, device="cpu", epochs=1, history=[row])
    return {**done.to_json(), **changes}


# -- Why 1: a record lost -------------------------------------------------------------------------------------------

def test_three_attempts_within_one_clock_second_keep_three_records(tmp_path, monkeypatch):
    """``trainer.overwrite=true`` three times under a frozen clock: each earlier record gets its own previous/ entry."""
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 6, 1, 12, 0, 0, tzinfo=tz)

    monkeypatch.setattr(jumpnet.run.attempts, "datetime", Frozen)
    cfg, run_dir = config(tmp_path, "trainer.epochs=1", "trainer.overwrite=true"), tmp_path / "run"
    for _ in range(3):
        execute(cfg, run_dir)
    kept = sorted(run_dir.glob("previous/*/metrics.json"))
    assert len(kept) == 2, f"two earlier attempts, two previous/ entries: {kept}"
    assert len({p.parent.name for p in kept}) == 2 and all(p.parent.name.startswith("20260601-120000") for p in kept)
    assert [json.loads(p.read_text())["status"] for p in kept] == ["completed", "completed"]
    assert record(run_dir)["status"] == "completed"


def test_a_frozen_clock_still_completes_the_run(tmp_path, monkeypatch):
    """faketime freezes the monotonic clocks too, so an epoch can be timed at 0 s: its log line and the record
    say 0 img/s instead of the run failing with ZeroDivisionError."""
    monkeypatch.setattr(jumpnet.train.throughput.time, "perf_counter", lambda: 1000.0)
    run_dir = tmp_path / "run"
    execute(config(tmp_path, "trainer.epochs=1", "trainer.progress=log"), run_dir)
    done = record(run_dir)
    assert done["status"] == "completed", done.get("error")
    assert done["history"][0]["time_s"] == 0.0 and done["throughput"] == 0.0


# -- Why 2: two configs, one folder ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [[], ["-m"]])
def test_a_repeated_override_is_refused_before_any_folder_exists(exp_dir, mode):
    out = run_py([*mode, *SMALL, "trainer.epochs=1", "trainer.epochs=3", f"paths.experiments_dir={exp_dir}"],
                 timeout=120)
    assert out.returncode == 1, (out.stdout + out.stderr)[-2000:]
    last = out.stderr.splitlines()[-1]
    assert last.startswith("error: trainer.epochs is given twice (trainer.epochs=1, trainer.epochs=3)"), out.stderr
    assert "Traceback" not in out.stderr and not exp_dir.exists(), "refused before Hydra made a folder"


# -- Why 3: hand-edited or damaged records ---------------------------------------------------------------------------

BAD_RECORDS = {  # what a hand edit or a damaged copy leaves, and what the reader must say about it
    "history_text": ({"history": "oops"}, "history"),
    "seed_text": ({"seed": "five"}, "seed"),
    "feature_map_text": ({"feature_map": "big"}, "feature_map"),
    "test_acc_text": ({"test_acc": "0.9"}, "test_acc"),
    "test_acc_list": ({"test_acc": [0.9]}, "test_acc"),
    "test_acc_percent": ({"test_acc": 5.0}, "test_acc=5.0"),
    "completed_without_test_acc": ({"test_acc": None}, "test_acc"),
    "status_unknown": ({"status": "done"}, "status"),
    "history_row_text": ({"history": [{"epoch": "one", "val_acc": 0.3}]}, "history"),
}


@pytest.fixture
def sweep_with_bad_records(tmp_path) -> tuple[Path, dict[str, Path]]:
    root = tmp_path / "sweep"
    for seed, acc in ((0, 0.0969), (1, 0.0969)):
        folder = root / f"jumpnet-full-s{seed}"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(valid_record(seed=seed, test_acc=acc)))
    bad = {}
    for seed, (name, (changes, _)) in enumerate(BAD_RECORDS.items(), start=2):
        folder = root / name / f"jumpnet-full-s{seed}"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(valid_record(**{"seed": seed, **changes})))
        bad[name] = folder / "metrics.json"
    return root, bad


def test_hand_edited_records_are_named_unreadable_by_status_and_report_never_averaged(sweep_with_bad_records):
    from jumpnet.report.collect import collect
    from jumpnet.status import main as status_main

    root, bad = sweep_with_bad_records
    runs = collect([root])
    assert sorted(runs.completed["seed"].astype(int)) == [0, 1]               # only the two whole records
    assert runs.completed["test_acc"].astype(float).mean() == pytest.approx(0.0969)
    errors = dict(zip(runs.runs["run_dir"], runs.runs["error"] if "error" in runs.runs else []))
    for name, path in bad.items():
        assert run_status(path.parent) == "unreadable", name
        why = errors[str(path.parent)]
        assert why.startswith(f"unreadable: {path}: ") and BAD_RECORDS[name][1] in why, (name, why)

    table, _, _ = status_table(root)
    assert sorted(table.loc[table["status"] == "unreadable", "run"]) == sorted(
        str(p.parent.relative_to(root)) for p in bad.values())
    assert status_main([str(root)]) == 0


def test_status_names_each_unreadable_record(sweep_with_bad_records, capsys):
    from jumpnet.status import main as status_main

    root, bad = sweep_with_bad_records
    assert status_main([str(root)]) == 0
    out = capsys.readouterr().out
    for path in bad.values():
        assert f"unreadable: {path}: " in out


# -- Why 4: values YAML reads as non-strings, seeds out of range ----------------------------------------------------

def test_a_name_yaml_reads_as_a_number_is_refused_before_any_folder(exp_dir):
    out = run_py([*SMALL, "trainer.epochs=1", "name=2024", f"paths.experiments_dir={exp_dir}"], timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert out.stderr.splitlines()[-1].startswith("error: name=2024 is not a name"), out.stderr
    assert not exp_dir.exists()


@pytest.mark.parametrize("override,message", [
    ("name=null", "name=None is not a name"), ("name=0.5", "name=0.5 is not a name"),
    ("name=true", "name=True is not a name"), ("name=a/b", "name='a/b' is not a name"),
    ("seed=-3", "seed=-3 must be >= 0 and < 2**32"), ("seed=4294967296", "seed=4294967296 must be >= 0 and < 2**32"),
    ("seed=0.5", "seed=0.5 must be an integer"),
])
def test_identity_values_are_typed_and_range_checked_where_the_folder_is_named(override, message, tmp_path):
    """The run folder's path is resolved before Hydra creates it: a bad identity value stops there."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from jumpnet.paths import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*SMALL, override, f"paths.experiments_dir={tmp_path}"],
                      return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with pytest.raises(Exception) as err:
            str(cfg.hydra.run.dir)
    chain, seen = err.value, []
    while chain is not None:
        seen.append(str(chain))
        chain = chain.__cause__ or chain.__context__
    assert any(message in text for text in seen), seen
    assert not any(tmp_path.iterdir())


def test_a_seed_past_2_to_the_64_in_the_tree_is_named_by_the_report(tmp_path):
    from jumpnet.report.collect import collect

    root = tmp_path / "sweep"
    good = root / "jumpnet-full-s0"
    good.mkdir(parents=True)
    (good / "metrics.json").write_text(json.dumps(valid_record()))
    huge = root / "jumpnet-full-s18446744073709551616"
    (huge / ".hydra").mkdir(parents=True)
    (huge / ".hydra" / "config.yaml").write_text("seed: 18446744073709551616\nmodel: {name: jumpnet}\n")
    (huge / "metrics.json").write_text(json.dumps(valid_record(seed=18446744073709551616)))
    runs = collect([root])
    (row,) = runs.problems.to_dict("records")
    assert row["status"] == "unreadable" and row["error"].startswith(f"unreadable: {huge / 'metrics.json'}: seed")
    assert len(runs.completed) == 1


# -- Why 5: SIGTERM --------------------------------------------------------------------------------------------------

def test_sigterm_is_recorded_interrupted_and_the_process_exits_with_the_signal(exp_dir):
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *LONG, "trainer.epochs=20",
                             f"paths.experiments_dir={exp_dir}"], cwd=ROOT, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(exp_dir.rglob("checkpoint.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err[-3000:]
    (ckpt,) = exp_dir.rglob("checkpoint.pt")
    saved = torch.load(ckpt, weights_only=True)["epoch"]
    done = record(ckpt.parent)
    assert done["status"] == "interrupted" and done["epochs"] == saved >= 1 and len(done["history"]) == saved
    assert done["reason"] == "SIGTERM" and run_status(ckpt.parent) == "interrupted"
    assert "Traceback" not in err


def test_sigterm_chains_to_the_handler_already_installed(tmp_path, monkeypatch):
    """submitit installs its own SIGTERM handler: it still runs, after the record is written."""
    from jumpnet.errors import Terminated

    seen = []

    def earlier(signum, frame):
        seen.append((signum, (tmp_path / "run" / "metrics.json").exists()))

    monkeypatch.setenv("JUMPNET_TEST_FAULT", "sigterm_at:4")  # 3 steps an epoch at batch 64: the first of epoch 2
    previous = signal.signal(signal.SIGTERM, earlier)
    try:
        with pytest.raises(Terminated):
            execute(config(tmp_path, "trainer.epochs=3", "trainer.batch_size=64"), tmp_path / "run")
        assert signal.getsignal(signal.SIGTERM) is earlier, "the earlier handler is back in place"
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [(signal.SIGTERM, True)], "chained once, after the record"
    done = record(tmp_path / "run")
    assert done["status"] == "interrupted" and done["epochs"] == 1


# -- Why 6: locks held by workers, temp files of dead writers ---------------------------------------------------------

def test_dataloader_workers_never_hold_the_run_lock(exp_dir):
    """kill -9 of a run whose DataLoader workers are alive: the lock is free at once, not when the workers notice."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *LONG, "trainer.epochs=20", "trainer.fast=false",
                             "trainer.workers=2", f"paths.experiments_dir={exp_dir}"], cwd=ROOT, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not list(exp_dir.rglob("checkpoint.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (ckpt,) = exp_dir.rglob("checkpoint.pt")
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    holder = lock_holder(ckpt.parent)
    lock = RunLock(ckpt.parent)
    free = lock.acquire()
    lock.release()
    assert workers, "the plain path trains with worker processes"
    assert holder is None and free, f"lock held after kill -9 (workers still alive: {alive})"


def test_temp_files_of_a_killed_writer_are_removed_on_the_next_attempt(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in (".checkpoint.pt.k3j2x9ab.tmp", ".metrics.json.q8w7e6r5.tmp"):  # what a kill mid-write leaves
        (run_dir / name).write_bytes(b"half a file")
    (run_dir / "notes.tmp").write_text("not ours")
    execute(config(tmp_path, "trainer.epochs=1", "trainer.progress=log"), run_dir)
    assert record(run_dir)["status"] == "completed"
    assert sorted(p.name for p in run_dir.glob("*.tmp")) == ["notes.tmp"]


# -- Why 7: data identity --------------------------------------------------------------------------------------------

def test_a_rewritten_archive_gets_a_new_identity(tmp_path):
    """``cat other.tar > a.tar; touch -d <old mtime> a.tar`` keeps size, inode and mtime, not the ctime."""
    path, root = tmp_path / "a.tar", tmp_path / "root"
    path.write_bytes(b"A" * 4096)
    first = data_identity_module.archive_sha256(path, root)
    before = path.stat()
    time.sleep(0.01)
    with open(path, "r+b") as f:
        f.write(b"B" * 4096)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_ino, after.st_mtime_ns) == (before.st_size, before.st_ino, before.st_mtime_ns)
    data_identity_module._memo.clear()                      # a new process: only the on-disk cache remains
    assert data_identity_module.archive_sha256(path, root) == data_identity_module.sha256(path) != first


def test_the_same_bytes_under_another_name_reuse_the_decoded_cache(tmp_path, monkeypatch):
    import jumpnet.data.archive

    a = make_imagefolder_tar(tmp_path / "a.tar.gz")
    arrays = load_arrays(data_cfg(a, tmp_path / "root"))
    b = tmp_path / "copy-of-a.tgz"
    shutil.copy(a, b)

    def decode(path):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(jumpnet.data.archive, "decode_archive", decode)
    again = load_arrays(data_cfg(b, tmp_path / "root"))
    assert (again.x_train == arrays.x_train).all() and again.classes == arrays.classes


# -- Why 9: debris ---------------------------------------------------------------------------------------------------

def test_a_failed_attempt_that_saved_nothing_leaves_no_previous_entry(tmp_path, monkeypatch):
    cfg, run_dir = config(tmp_path, "trainer.epochs=1"), tmp_path / "run"
    monkeypatch.setenv("JUMPNET_TEST_FAULT", "raise_at:1")
    for _ in range(2):
        with pytest.raises(RuntimeError, match="injected fault"):
            execute(cfg, run_dir)
        assert record(run_dir)["status"] == "failed" and record(run_dir)["epochs"] == 0
    monkeypatch.delenv("JUMPNET_TEST_FAULT")
    execute(cfg, run_dir)
    assert record(run_dir)["status"] == "completed" and not (run_dir / "error.txt").exists()
    assert not (run_dir / "previous").exists(), "retries of an attempt that saved nothing leave no previous/ entries"


def test_a_failed_attempt_that_saved_epochs_is_kept(tmp_path, monkeypatch):
    cfg, run_dir = config(tmp_path, "trainer.epochs=2", "trainer.batch_size=64"), tmp_path / "run"
    monkeypatch.setenv("JUMPNET_TEST_FAULT", "raise_at:4")  # the first step of epoch 2: epoch 1 is saved
    with pytest.raises(RuntimeError):
        execute(cfg, run_dir)
    monkeypatch.delenv("JUMPNET_TEST_FAULT")
    execute(cfg, run_dir)
    (kept,) = run_dir.glob("previous/*/metrics.json")
    assert json.loads(kept.read_text())["epochs"] == 1 and record(run_dir)["resumed_from_epoch"] == 1


@pytest.mark.parametrize("override,message", [
    ("trainer.device=cuda", "trainer.device=cuda but no CUDA device is visible here"),
    ("data.train_subset=5", "data.train_subset=5 is fewer images than data.num_classes=10"),
])
def test_checks_that_need_no_training_leave_no_folder(tmp_path, override, message):
    if override == "trainer.device=cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here")
    run_dir = tmp_path / "default" / "run"
    with pytest.raises(JumpnetError, match=message.replace(".", r"\.")):
        execute(config(tmp_path, "trainer.epochs=1", override), run_dir)
    assert not run_dir.exists() and not (tmp_path / "default").exists()


def test_an_archive_that_is_not_a_tar_is_refused_before_any_folder(tmp_path):
    run_dir = tmp_path / "default" / "run"
    data = ["data=cifar10", f"data.archive={ROOT / 'README.md'}", f"data.root={tmp_path / 'root'}"]
    with pytest.raises(DataError) as err:
        execute(config(tmp_path, "trainer.epochs=1", data=data), run_dir)
    text = str(err.value)
    assert f"data.archive='{ROOT / 'README.md'}' is not a tar archive" in text and "\n" not in text
    assert not run_dir.exists()


def test_status_of_a_preset_before_any_run_lists_its_arms(tmp_path, capsys):
    from jumpnet.status import main as status_main

    assert status_main([str(tmp_path / "experiments" / "smoke")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Sweep {tmp_path / 'experiments' / 'smoke'}: no run folder yet")
    assert "Not started: 10 arm(s) of the preset:" in out and "jumpnet-full-s0" in out
    assert not (tmp_path / "experiments").exists(), "status writes nothing"


def test_status_of_a_folder_that_is_neither_a_sweep_nor_a_preset_is_one_line(tmp_path, capsys):
    from jumpnet.status import main as status_main

    assert status_main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {tmp_path / 'nope'} is not a folder and conf/experiment/nope.yaml is not a preset; pass a "
                   f"sweep's folder, e.g. experiments/smoke\n")


def test_a_finished_sweep_rerun_in_a_read_only_folder_exits_0(exp_dir):
    if not shutil.which("unshare"):
        pytest.skip("needs unshare")
    args = [sys.executable, str(ROOT / "run.py"), "-m", "model=tiny_jumpnet", "seed=0", *TINY_DATA, "logger=none",
            "trainer.epochs=1", *WITH_TEST_CONF, f"paths.experiments_dir={exp_dir}"]
    first = run_captured(args, timeout=180)
    assert first.returncode == 0, first.stderr[-2000:]
    sweep = exp_dir / "default"
    script = f"mount --bind {sweep} {sweep} && mount -o remount,bind,ro {sweep} && exec \"$@\""
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here: {probe.stderr.decode()[-300:]}")
    again = run_captured(["unshare", "-rm", "sh", "-c", script, "sh", *args], timeout=180)
    text = again.stdout + again.stderr
    assert again.returncode == 0 and "Traceback" not in text, text[-3000:]
    assert "Sweep summary: 1 runs (1 completed):" in text
    assert f"{sweep / 'multirun.yaml'} not written" in text and "nothing to launch" in text
