"""Runs that never lie: divergence, early stopping, Ctrl-C, damaged files, full disks, data identity, repeatability.

In-process through the real task function (``jumpnet.run.pipeline.execute``, what ``run.py`` calls), tiny JumpNets on
tiny data; faults are injected by ``tests/faulty.py`` (a JumpNet with a chosen fault) and, for a full disk, at the
write call through the seam ``jumpnet.atomic.open_for_write`` (a real full filesystem: tests/test_disk_full.py).
"""
from __future__ import annotations

import errno
import io
import json
import logging
import os
from pathlib import Path

import pytest
import torch

import jumpnet.atomic
from hydra_plugins.jumpnet_sweeper.valid_grid_sweeper import ValidGridSweeper
from jumpnet.atomic import WriteError, write_json_atomic
from jumpnet.config.compose import compose_config
from jumpnet.data import DataError
from jumpnet.data.identity import data_identity
from jumpnet.run.attempts import final_record
from jumpnet.run.folder import RecordUnreadable
from jumpnet.run.pipeline import execute
from tests.conftest import TINY_DATA
from tests.test_data import make_imagefolder_tar

TINY = ["model.stem=[4,8]", "model.groups=[[8,1],[16,1]]", "model._target_=tests.faulty.FaultyJumpNet"]
TIMING = {"time_s", "train_time_s", "throughput", "wall_time_s", "started_at", "finished_at"}


def config(tmp_path: Path, *overrides: str, data: list[str] = TINY_DATA):
    return compose_config([*TINY, *data, "logger=none", "trainer.threads=1", "trainer.progress=none",
                           "trainer.epochs=2", f"paths.experiments_dir={tmp_path}", *overrides])


def record(run_dir: Path) -> dict:
    text = (run_dir / "metrics.json").read_text()
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"metrics.json holds {c}: not strict JSON"))


@pytest.mark.parametrize("fault,overrides,why", [
    ("nan_eval", [], "validation loss became nan in epoch 1"),
    ("inf_grad_at:4", ["data.val_size=0"], "weights became non-finite in epoch 2"),  # 2 x 2 steps: the last one
])
def test_any_non_finite_loss_or_weight_ends_the_run_diverged_in_strict_json(tmp_path, monkeypatch, fault, overrides,
                                                                            why):
    monkeypatch.setenv("JUMPNET_TEST_FAULT", fault)
    run_dir = tmp_path / "run"
    execute(config(tmp_path, *overrides), run_dir)
    done = record(run_dir)
    assert done["status"] == "diverged" and done["notes"][-1] == why
    assert done["test_acc"] is None and done["test_loss"] is None
    if fault == "nan_eval":
        assert done["history"][0]["val_loss"] is None   # NaN written as null, the training loss kept
        assert done["history"][0]["train_loss"] > 0


def test_finished_training_goes_straight_to_test_when_resumed(tmp_path, monkeypatch, caplog):
    """Early stopping after epoch 2 of 4; the process dies before its record (during test or W&B's finish)."""
    monkeypatch.setenv("JUMPNET_TEST_FAULT", "constant_eval")    # val_acc never improves after epoch 1
    cfg, run_dir = config(tmp_path, "trainer.epochs=4", "trainer.early_stopping=1"), tmp_path / "run"
    execute(cfg, run_dir)
    first = record(run_dir)
    assert first["epochs"] == 2 and "early stop after epoch 2" in first["notes"][0]
    (run_dir / "metrics.json").unlink()                          # what a kill after the last checkpoint leaves
    with caplog.at_level(logging.INFO):
        execute(cfg, run_dir)
    again = record(run_dir)
    assert "Training had finished after epoch 2" in caplog.text
    assert again["status"] == "completed" and again["epochs"] == 2 and again["notes"] == first["notes"]
    assert again["test_acc"] == first["test_acc"]


def test_ctrl_c_records_interrupted_with_the_epochs_done_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("JUMPNET_TEST_FAULT", "interrupt_at:4")   # 3 steps per epoch: the first step of epoch 2
    cfg, run_dir = config(tmp_path, "trainer.epochs=3", "trainer.batch_size=64"), tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        execute(cfg, run_dir)
    stopped = record(run_dir)
    assert stopped["status"] == "interrupted" and stopped["epochs"] == 1 and len(stopped["history"]) == 1
    monkeypatch.delenv("JUMPNET_TEST_FAULT")
    execute(cfg, run_dir)
    done = record(run_dir)
    assert done["status"] == "completed" and done["resumed_from_epoch"] == 1 and done["epochs"] == 3
    assert [json.loads(p.read_text())["status"] for p in run_dir.glob("previous/*/metrics.json")] == ["interrupted"]
    # the run's wall time is both attempts': the first one's up to its checkpoint, then the whole second one
    kept = torch.load(run_dir / "checkpoint.pt", weights_only=True)["wall_time_s"]
    assert 0 < stopped["wall_time_total_s"] == stopped["wall_time_s"]
    assert done["wall_time_total_s"] > done["wall_time_s"] > 0 and kept < done["wall_time_total_s"]
    assert done["wall_time_total_s"] - done["wall_time_s"] <= stopped["wall_time_s"]


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_a_damaged_checkpoint_is_set_aside_and_training_restarts(tmp_path, damage, caplog):
    cfg, run_dir = config(tmp_path, "trainer.epochs=1"), tmp_path / "run"
    run_dir.mkdir()
    buffer = io.BytesIO()
    torch.save({"epoch": 1, "model": {"w": torch.zeros(1000)}}, buffer)
    (run_dir / "checkpoint.pt").write_bytes(b"\x00garbage" * 64 if damage == "garbage" else buffer.getvalue()[:900])
    with caplog.at_level(logging.WARNING):
        execute(cfg, run_dir)
    done = record(run_dir)
    (aside,) = run_dir.glob("checkpoint.pt.corrupt-*")
    assert done["status"] == "completed" and done["resumed_from_epoch"] == 0
    assert f"moved to {aside.name}, training restarted from scratch" in done["checkpoint_discarded"]
    assert done["notes"][0] == done["checkpoint_discarded"] and aside.name in caplog.text
    assert "weights_only" not in done["checkpoint_discarded"]  # torch's advice to load it unsafely is not ours
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 1


@pytest.mark.parametrize("failing_save", [1, 2])
def test_a_full_disk_is_one_line_and_leaves_the_last_checkpoint_whole(tmp_path, monkeypatch, failing_save):
    """ENOSPC injected at the write call of the first or second checkpoint (the seam jumpnet.atomic.open_for_write);
    the record then says what was saved (0 or 1 epochs), never how far training got."""
    real_open, saves = jumpnet.atomic.open_for_write, []

    class FullDisk(io.FileIO):
        def write(self, data):
            super().write(bytes(data)[:100])                     # some bytes land, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def open_for_write(fd):
        if os.readlink(f"/proc/self/fd/{fd}").split("/")[-1].startswith(".checkpoint.pt."):
            saves.append(fd)
            if len(saves) == failing_save:
                return FullDisk(fd, "wb")
        return real_open(fd)

    monkeypatch.setattr(jumpnet.atomic, "open_for_write", open_for_write)
    run_dir = tmp_path / "run"
    with pytest.raises(WriteError) as err:
        execute(config(tmp_path, "trainer.epochs=3"), run_dir)
    line = str(err.value)
    assert line.startswith(f"cannot write {run_dir / 'checkpoint.pt'}: [Errno 28 ENOSPC] No space left on device")
    assert "\n" not in line and "what was saved before is intact" in line
    saved = failing_save - 1
    if saved:
        assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == saved  # the last good one, whole
    else:
        assert not (run_dir / "checkpoint.pt").exists()
    assert not list(run_dir.rglob("*.tmp")), "temp files removed"
    assert "No space left on device" in (run_dir / "error.txt").read_text()
    failed = record(run_dir)
    assert failed["status"] == "failed" and "ENOSPC" in failed["error"]
    assert failed["epochs"] == saved and len(failed["history"]) == saved


def test_a_record_that_cannot_be_written_leaves_the_earlier_one_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"status": "completed", "test_acc": float("nan")})
    before = path.read_bytes()
    assert json.loads(before)["test_acc"] is None                 # strict JSON: NaN is null

    class FullDisk(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(jumpnet.atomic, "open_for_write", lambda fd: FullDisk(fd, "wb"))
    with pytest.raises(WriteError, match=r"cannot write .*metrics.json: \[Errno 28 ENOSPC\]"):
        write_json_atomic(path, {"status": "failed"})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_checkpoint_and_record_are_fsynced_before_their_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    execute(config(tmp_path, "trainer.epochs=1"), tmp_path / "run")
    for name in ("checkpoint.pt", "metrics.json"):
        (i, (_, tmp, _)), = [(i, e) for i, e in enumerate(events) if e[0] == "replace" and e[2] == name]
        assert ("fsync", tmp) in events[:i], f"{name} renamed into place before its data reached the disk"


def test_same_command_same_seed_gives_the_same_record(tmp_path):
    cfg = config(tmp_path, "trainer.epochs=2", "data.train_subset=128")
    execute(cfg, tmp_path / "a")
    execute(cfg, tmp_path / "b")
    a, b = record(tmp_path / "a"), record(tmp_path / "b")
    for key in ("test_acc", "test_loss", "best_val_acc", "best_epoch", "params", "macs", "epochs"):
        assert a[key] == b[key], key
    def strip(history):
        return ([{k: v for k, v in row.items() if k not in TIMING} for row in history])
    assert strip(a["history"]) == strip(b["history"]) and len(a["history"]) == 2


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("archives")
    return (make_imagefolder_tar(folder / "a.tar.gz"), make_imagefolder_tar(folder / "b.tar.gz", colour_shift=5))


def archive_config(tmp_path: Path, archive: Path, *overrides: str):
    data = ["data=cifar10", "data.name=tiny", f"data.archive={archive}", "data.num_classes=3", "data.image_size=8",
            "data.val_size=3", f"data.root={tmp_path / 'root'}"]
    return config(tmp_path, "trainer.epochs=1", *overrides, data=data)


def test_a_folder_made_with_other_data_is_refused_never_skipped_or_resumed(tmp_path, archives):
    a, b = archives
    run_dir = tmp_path / "run"
    execute(archive_config(tmp_path, a), run_dir)
    done = record(run_dir)
    assert done["status"] == "completed" and done["data_id"].startswith("sha256:") and len(done["data_id"]) == 71
    before = (run_dir / "metrics.json").read_bytes()
    skip = ValidGridSweeper._done_before                         # the sweeper skips it for A, launches it for B
    assert skip(archive_config(tmp_path, a), run_dir) == "completed"
    assert skip(archive_config(tmp_path, b), run_dir) is None
    assert skip(archive_config(tmp_path, a, "trainer.overwrite=true"), run_dir) is None
    id_a, id_b = (data_identity(archive_config(tmp_path, x).data) for x in (a, b))   # what both of them read
    assert final_record(run_dir, id_a) == done and final_record(run_dir, lambda: id_a) == done
    with pytest.raises(DataError, match=r"holds a run made with other data"):
        final_record(run_dir, id_b)
    with pytest.raises(DataError, match=r"holds a run made with other data .* neither resumed nor skipped"):
        execute(archive_config(tmp_path, b), run_dir)             # completed on A: not "already completed" for B
    assert (run_dir / "metrics.json").read_bytes() == before
    (run_dir / "metrics.json").unlink()                          # now an interrupted run of A (checkpoint only)
    with pytest.raises(DataError, match=r"its checkpoint.pt says data_id='sha256:"):
        execute(archive_config(tmp_path, b), run_dir)
    execute(archive_config(tmp_path, b, "trainer.overwrite=true"), run_dir)   # asked to: trained again on B
    assert record(run_dir)["data_id"] != done["data_id"]


def test_a_failed_attempt_that_saved_nothing_is_retried_on_other_data(tmp_path, archives):
    """A first command that failed before training (offline, nothing downloaded), rerun with an archive, just runs;
    the failed attempt saved nothing, so it is replaced, not kept (retries would fill previous/)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    failed = {"status": "failed", "epochs": 0, "data_id": f"cifar10 (torchvision) in {tmp_path / 'empty'}"}
    (run_dir / "metrics.json").write_text(json.dumps(failed))
    (run_dir / "error.txt").write_text("RuntimeError: offline")
    execute(archive_config(tmp_path, archives[1]), run_dir)
    assert record(run_dir)["status"] == "completed" and record(run_dir)["data_id"].startswith("sha256:")
    assert not (run_dir / "previous").exists() and not (run_dir / "error.txt").exists()


def test_an_unreadable_record_is_left_alone_and_named(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(RecordUnreadable, match=r"^unreadable: .*metrics.json: not UTF-8; it is left as it is"):
        execute(config(tmp_path, "trainer.epochs=1"), run_dir)
    assert (run_dir / "metrics.json").read_bytes() == b"\xff\xfe{"


def test_an_ablation_set_by_field_is_labelled_by_its_values(tmp_path):
    from jumpnet.config.naming import ablation_label, short_dirname
    from jumpnet.report.collect import collect

    execute(config(tmp_path, "trainer.epochs=1", "ablation.merge=add"), tmp_path / "run")
    assert record(tmp_path / "run")["ablation"] == "add"                # the preset whose values these are
    unstarted = tmp_path / "unstarted" / ".hydra"                          # a report labels a run without a record
    unstarted.mkdir(parents=True)
    (unstarted / "config.yaml").write_text("model: {name: jumpnet}\nseed: 0\n"
                                           "ablation: {name: full, merge: add, head: fc}\n")
    labels = dict(zip(*[collect([tmp_path]).runs[c].astype(str) for c in ("status", "ablation")]))
    assert labels == {"completed": "add", "unfinished": "merge=add+head=fc"}
    assert ablation_label({"name": "full", "links": False}) == "no_links"
    long = ",".join(f"trainer.key{i}=value{i}" for i in range(20))
    short = short_dirname(long)
    assert short_dirname("data=synthetic,seed=1") == "data=synthetic,seed=1" and len(short.encode()) <= 200
    assert short.startswith("trainer.key0=value0,") and short == short_dirname(long) != short_dirname(long + "x")
    levels = long.replace(",", "/")  # the Optuna preset's item_sep: one level per override, each short: kept whole
    assert short_dirname(levels) == levels and short_dirname(f"{long}/seed=1") == f"{short}/seed=1"
