"""The typed run record: every SPEC key from the start, a step's keys once it ran, results merged in one place,
and records a reader holds (the stall watchdog's thread) never change under it."""
from __future__ import annotations

import dataclasses

import pytest

from jumpnet.config.compose import compose_config
from jumpnet.run.record import FinalTest, Fitted, Published, RunRecord, ended, stalled
from jumpnet.run.spec import resolve_run
from jumpnet.train.loop import FitResult
from tests.conftest import SPEC_KEYS, TINY_DATA, TINY_JUMPNET

STEP_KEYS = {"splits", "test_subset_used", "channels_last", "threads", "init_lottery", "best_epoch",
             "resumed_from_epoch", "notes", "wall_time_s", "wall_time_total_s", "finished_at", "error", "reason",
             "checkpoint_discarded"}


def start(*overrides: str, note: str | None = None) -> RunRecord:
    spec = resolve_run(compose_config([*TINY_DATA, *TINY_JUMPNET, *overrides]))
    return RunRecord.start(spec, "synthetic:test", note)


def test_a_new_record_holds_every_spec_key_and_the_specs_facts_but_no_step_keys():
    record = start("ablation=add_matched", "model.width_mult=2").to_json()
    assert SPEC_KEYS <= set(record) and not STEP_KEYS & set(record)
    assert record["status"] == "running" and record["params"] is None and record["history"] == []
    assert record["ablation"] == "add_matched" and record["merge"] == "add" and record["links"] is True
    assert record["width_mult"] == 2.0 and record["match"] == "params" and record["match_width_mult"] > 0
    assert record["widths"]["stem"] and record["data_id"] == "synthetic:test" and record["epochs"] == 0


def test_a_reader_keeps_the_record_it_read_and_the_watchdog_builds_its_own():
    published = Published(start())
    seen = published.latest()
    published.publish(epochs=1)
    latest = published.latest()
    assert seen.epochs == 0 and latest.epochs == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen.status = "failed"  # type: ignore[misc]
    stall = stalled(latest, "stalled: no training or evaluation step finished for 9 s")
    assert stall.status == "failed" and stall.reason == "stalled" and stall.epochs == 1
    assert published.latest() is latest and latest.status == "running" and "reason" not in latest.to_json()


def test_fit_and_test_results_merge_their_keys_and_notes_in_order():
    published = Published(start(note="checkpoint.pt set aside"))
    row = {"epoch": 1, "train_loss": 2.0, "train_acc": 0.1, "val_loss": 2.1, "val_acc": 0.2, "lr": 0.1, "time_s": 1.0}
    fit = FitResult("completed", [row], 0.2, 1, 2.00049, 100, notes=["early stop after epoch 1"])
    fitted = published.publish(Fitted(fit))
    assert fitted.status == "running" and fitted.epochs == 1 and fitted.train_time_s == 2.0
    assert fitted.throughput == 49.99 and fitted.notes == ["checkpoint.pt set aside", "early stop after epoch 1"]
    tested = published.publish(FinalTest(test_loss=float("nan"), test_acc=0.1))
    assert tested.status == "diverged" and tested.notes[-1] == "test loss is nan" and len(tested.notes) == 3
    assert fitted.notes == ["checkpoint.pt set aside", "early stop after epoch 1"]  # never appended to in place
    done = ended(tested, 3.14159).to_json()
    assert done["wall_time_s"] == 3.142 and done["finished_at"] and done["checkpoint_discarded"]
    assert {"best_epoch", "resumed_from_epoch", "notes"} <= set(done) and "error" not in done
