"""The run record (``metrics.json``) as a type: every SPEC key and every extra key a report reads, in one place.

A ``RunRecord`` is frozen. The pipeline's steps return what they found (``ModelFacts``, ``DataFacts``,
``Fitted``, ``FinalTest``, ...), each of which knows its own keys (``fields``); ``Published.publish`` merges one
into the latest record and publishes the new one. The main thread is the only writer; the stall watchdog's
thread and the failure path read the latest record and build their own from it (``stalled``, ``ended``).
A key whose step has not run is left out of ``metrics.json`` (``ABSENT``), as a dict filled step by step
left it out: a record says how far its run got.

Every reader checks a record against this type (``jumpnet.run.record_check``, called by
``jumpnet.run.folder.read_metrics``): a record that fails is unreadable, named, never averaged.
"""
from __future__ import annotations

import dataclasses
import math
import os
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import torch

from jumpnet.data.splits import Splits
from jumpnet.run.provenance import provenance
from jumpnet.run.spec import RunSpec
from jumpnet.train.loop import FitResult


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()  # not in metrics.json (yet): the step that sets the key has not run
STATUSES = ("completed", "failed", "diverged", "running", "interrupted")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def cluster_job() -> dict:
    """The SLURM job this run is in (``123_4`` for an array task) and how often SLURM requeued it."""
    env = os.environ
    if "SLURM_JOB_ID" not in env:
        return {"slurm_job_id": None, "requeued": 0}
    array = "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env
    job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}" if array else env["SLURM_JOB_ID"]
    return {"slurm_job_id": job, "requeued": int(env.get("SLURM_RESTART_COUNT") or 0)}


@dataclass(frozen=True)
class RunRecord:
    """``metrics.json``: SPEC's keys (null until measured) and what a report and a resume need besides."""

    model: str
    ablation: str                       # the ablation label
    seed: int
    status: str = "running"             # completed | failed | diverged | running | interrupted
    params: int | None = None
    flops: int | None = None
    macs: int | None = None
    feature_map: list[int] | None = None
    size_mb: float | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    best_val_acc: float | None = None
    train_time_s: float | None = None
    throughput: float | None = None
    device: str | None = None           # "cpu" or the GPU's name
    epochs: int = 0
    # provenance (jumpnet.run.provenance)
    git_sha: str | None = None
    git_dirty: bool | None = None
    python_version: str | None = None
    torch_version: str | None = None
    torchvision_version: str | None = None
    cuda_version: str | None = None
    cudnn_version: int | None = None
    gpu: str | None = None
    host: str | None = None
    history: list[dict] = field(default_factory=list)  # one row per epoch
    # what was run: the config's facts a report groups by
    experiment: str | None = None
    data: str | None = None
    data_archive: str | None = None
    data_id: str | None = None
    links: bool = True
    merge: str | None = None
    head: str | None = None             # the configured head, then the model's own (``head_kind``) once built
    residual: bool = True
    width_mult: float = 1.0             # as configured; a matched arm is built at match_width_mult
    match: str | None = None
    match_target: int | None = None
    match_width_mult: float | None = None
    match_ratio: float | None = None
    match_gap: float | None = None
    deterministic: bool = False
    started_at: str | None = None
    slurm_job_id: str | None = None
    requeued: int = 0
    # what the steps found
    widths: dict = ABSENT
    checkpoint_discarded: str = ABSENT  # why a damaged checkpoint was set aside
    splits: dict = ABSENT
    test_subset_used: bool = ABSENT
    channels_last: bool = ABSENT
    precision: str = ABSENT             # fp32 | bf16: what trainer.precision resolved to (jumpnet.train.precision)
    threads: int = ABSENT
    init_lottery: dict | None = ABSENT
    best_epoch: int = ABSENT
    resumed_from_epoch: int = ABSENT
    notes: list[str] = ABSENT
    # how it ended
    wall_time_s: float = ABSENT         # this attempt's
    wall_time_total_s: float = ABSENT   # every attempt's: earlier ones up to their last checkpoint, and this one
    finished_at: str = ABSENT
    error: str = ABSENT
    reason: str = ABSENT                # "stalled" (the watchdog)

    @classmethod
    def start(cls, spec: RunSpec, data_id: str | None, checkpoint_note: str | None = None) -> RunRecord:
        """A new attempt's record: the spec's facts, provenance, the cluster job; nothing measured yet."""
        cfg, model = spec.cfg, spec.model
        note = {} if checkpoint_note is None else {"notes": [checkpoint_note], "checkpoint_discarded": checkpoint_note}
        return cls(model=cfg.model.name, ablation=spec.label, seed=spec.seed, **provenance(),
                   experiment=cfg.name, data=cfg.data.name, data_archive=cfg.data.get("archive"), data_id=data_id,
                   **model.ablation, width_mult=spec.width_mult, **model.record(),
                   deterministic=bool(cfg.trainer.get("deterministic", False)), started_at=now(), **cluster_job(),
                   **note)

    def to_json(self) -> dict:
        """The ``metrics.json`` object: every key whose step has run, in this class's order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not ABSENT}


@dataclass(frozen=True)
class DeviceFacts:
    """Where the run trains: the device and its name, the CPU threads."""

    device: torch.device
    threads: int

    def fields(self, record: RunRecord) -> dict:
        cuda = self.device.type == "cuda"
        name = torch.cuda.get_device_name(self.device) if cuda else None
        return {"gpu": name, "device": name or "cpu", "threads": self.threads}


@dataclass(frozen=True)
class DataFacts:
    splits: Splits

    def fields(self, record: RunRecord) -> dict:
        return {"splits": self.splits.sizes(), "test_subset_used": self.splits.test_subset_used}


@dataclass(frozen=True)
class ModelFacts:
    """``jumpnet.models.cost.measure`` of the built model, and the head it built."""

    params: int
    flops: int
    macs: int
    feature_map: list[int]
    size_mb: float
    head: str

    def fields(self, record: RunRecord) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Fitted:
    """What training returned; the run is completed only once tested."""

    fit: FitResult

    def fields(self, record: RunRecord) -> dict:
        fit = self.fit
        return {"status": "running" if fit.status == "completed" else fit.status, "history": list(fit.history),
                "epochs": len(fit.history), "best_val_acc": fit.best_val_acc, "best_epoch": fit.best_epoch,
                "train_time_s": round(fit.train_time_s, 3), "throughput": round(fit.throughput, 2),
                "resumed_from_epoch": fit.resumed_from, "notes": [*_notes(record), *fit.notes]}


@dataclass(frozen=True)
class FinalTest:
    """The test split, measured once with the selected weights; a non-finite loss means diverged."""

    test_loss: float
    test_acc: float

    @property
    def diverged(self) -> bool:
        return not math.isfinite(self.test_loss)

    def fields(self, record: RunRecord) -> dict:
        notes = [*_notes(record), f"test loss is {self.test_loss}"] if self.diverged else _notes(record)
        return {"test_loss": self.test_loss, "test_acc": self.test_acc,
                "status": "diverged" if self.diverged else "completed", "notes": notes}


def _notes(record: RunRecord) -> list[str]:
    return [] if record.notes is ABSENT else list(record.notes)


def ended(record: RunRecord, wall_time_s: float, before_s: float = 0.0, **outcome: Any) -> RunRecord:
    """The attempt's last record: its outcome (status, error, saved progress) and when it ended; ``before_s``: the
    wall time of the earlier attempts, as the checkpoint it resumed from kept it."""
    return replace(record, **outcome, wall_time_s=round(wall_time_s, 3),
                   wall_time_total_s=round(before_s + wall_time_s, 3), finished_at=now())


def stalled(record: RunRecord, message: str) -> RunRecord:
    """The watchdog's record (its own, from the latest published one): failed, reason stalled."""
    return replace(record, status="failed", reason="stalled", error=message, finished_at=now())


class Published:
    """The run's latest record, handed from the main thread (the only writer) to the watchdog's thread.

    Records are frozen and ``publish`` swaps the reference under a lock, so a reader always holds a whole
    record that no other thread changes.
    """

    def __init__(self, record: RunRecord):
        self._lock = threading.Lock()
        self._record = record

    def publish(self, *parts: Any, **values: Any) -> RunRecord:
        """Merge each step's result (its ``fields``), then ``values``, into the latest record; the new record."""
        with self._lock:
            record = self._record
            for part in parts:
                record = replace(record, **part.fields(record))
            self._record = replace(record, **values)
            return self._record

    def latest(self) -> RunRecord:
        with self._lock:
            return self._record

    def note(self, text: str) -> RunRecord:
        """Add a line to the record's ``notes`` (something the run met that did not change its outcome)."""
        with self._lock:
            self._record = replace(self._record, notes=[*_notes(self._record), text])
            return self._record
