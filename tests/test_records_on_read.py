"""Records are validated on read (issue 21, "Deliver" 1): arbitrary JSON in ``metrics.json`` never makes ``status``,
the report or the sweeper's summary raise; a record that is not a whole run record of its status is named,
``unreadable: <file>: <why>``, and never averaged. Property-based (Hypothesis): any JSON value, whole records
with any field replaced by any JSON value, and bytes that are not JSON at all."""
from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jumpnet.report import build_report
from jumpnet.report.collect import collect
from jumpnet.run.folder import RecordUnreadable, read_metrics
from jumpnet.run.record import STATUSES
from jumpnet.status import main as status_main
from jumpnet.sweep.status import status_table
from jumpnet.sweep.summary import outcome
from tests.test_nothing_lost import valid_record

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                          max_size=3), max_leaves=8)
FIELDS = sorted(valid_record())
ROW_FIELDS = sorted(valid_record()["history"][0])
EDITED = st.dictionaries(st.sampled_from(FIELDS), JSON, min_size=1, max_size=3).map(lambda c: valid_record(**c))
ROW_EDITED = st.dictionaries(st.sampled_from(ROW_FIELDS), JSON, min_size=1, max_size=2).map(
    lambda c: valid_record(history=[{**valid_record()["history"][0], **c}]))
ANY_RECORD = st.one_of(JSON, EDITED, ROW_EDITED, st.binary(max_size=24))


def place(root: Path, name: str, value) -> Path:
    path = root / name / "jumpnet-full-s1" / "metrics.json"
    path.parent.mkdir(parents=True)
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        path.write_text(json.dumps(value))        # NaN and Infinity too, as a hand edit could leave them
    return path


def unreadable(path: Path) -> bool:
    try:
        read_metrics(path.parent)
    except RecordUnreadable as err:
        assert str(err).startswith(f"unreadable: {path}: ") and "\n" not in err.message
        return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_RECORD)
def test_status_report_and_summary_never_raise_and_name_an_unreadable_record(value):
    root = Path(tempfile.mkdtemp())
    try:
        ok = root / "ok" / "jumpnet-full-s0"
        ok.mkdir(parents=True)
        (ok / "metrics.json").write_text(json.dumps(valid_record()))
        path = place(root, "edited", value)
        bad = unreadable(path)

        table, _, _ = status_table(root)
        shown = dict(zip(table["run"], table["status"]))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert status_main([str(root)]) == 0
        runs = collect([root])
        row = runs.runs.set_index("run_dir").loc[str(path.parent)]
        status, why, acc = outcome(path.parent, None, False, False)

        if bad:
            assert shown["edited/jumpnet-full-s1"] == "unreadable"
            assert f"unreadable: {path}: " in printed.getvalue()
            assert row["status"] == "unreadable" and row["error"].startswith(f"unreadable: {path}: ")
            assert status == "not started" and f"unreadable: {path}: " in why and acc is None
        else:
            record = read_metrics(path.parent)
            assert record["status"] in STATUSES and shown["edited/jumpnet-full-s1"] in (*STATUSES, "running")
            if record["status"] == "completed":
                assert isinstance(record["test_acc"], (int, float)) and 0 <= record["test_acc"] <= 1
                assert math.isfinite(record["test_loss"])
        averaged = runs.completed["test_acc"].astype(float)
        assert ((averaged >= 0) & (averaged <= 1)).all()
        assert str(ok) in set(runs.completed["run_dir"])
    finally:
        shutil.rmtree(root)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ANY_RECORD, min_size=1, max_size=5))
def test_a_whole_report_never_raises_and_lists_every_unreadable_record(values):
    root = Path(tempfile.mkdtemp())
    try:
        ok = root / "ok" / "jumpnet-full-s0"
        ok.mkdir(parents=True)
        (ok / "metrics.json").write_text(json.dumps(valid_record()))
        paths = [place(root, f"edited{i}", value) for i, value in enumerate(values)]
        report = build_report([root], root / "report")
        readme = (root / "report" / "README.md").read_text()
        for path in paths:
            if unreadable(path):
                assert f"unreadable: {path}: " in readme
        assert 0 <= report.runs.completed["test_acc"].astype(float).min() <= 1
    finally:
        shutil.rmtree(root)
