"""``make gpu-check``'s code, kept from rotting: ``--tiny`` runs every section on the CPU; the runner's guards."""
from __future__ import annotations

import json
import os
import time

import pytest

from jumpnet.gpucheck import profiles, runner
from tests.conftest import run_module


@pytest.fixture(scope="module")
def tiny_check(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpucheck") / "cpu"
    # a generous budget: what is tested is that every section works, not how fast (that is a benchmark: ~30 s idle)
    proc = run_module("jumpnet.gpucheck", ["--tiny", "--budget-s", "400", "--out", str(out)], timeout=500,
                      JUMPNET_DATA_ARCHIVE="")
    return proc, out


def test_tiny_check_runs_every_section_and_writes_json_and_readme(tiny_check):
    proc, out = tiny_check
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads((out / "gpucheck.json").read_text())
    sections = {s["name"]: s for s in record["sections"]}
    assert list(sections) == list(profiles.SECTIONS) and all(s["status"] == "ok" for s in sections.values())
    assert record["tiny"] is True and record["device"].startswith("cpu (") and record["budget_s"] == 400
    result = {name: s["result"] for name, s in sections.items()}
    assert [r["model"] for r in result["models"]["rows"]] == list(profiles.STUDY_MODELS)
    assert all(r["fast_img_s"] > 0 and r["plain_img_s"] > 0 for r in result["models"]["rows"])
    for mode in ("default", "reduce-overhead", "max-autotune"):
        compiled = result[f"compile:{mode}"]
        assert compiled["mode"] == mode and compiled["img_s"] > 0 and compiled["compile_s"] >= 0
        # one graph for training, one for evaluation: the padded ragged last batch compiled nothing more
        assert compiled["graphs_compiled"] == 2, compiled
    assert result["compile:off"]["mode"] is None and result["compile:off"]["graphs_compiled"] == 0
    levels = result["concurrency"]["levels"]
    assert [lv["runs"] for lv in levels] == [1, 2] and len(levels[1]["per_run_img_s"]) == 2
    assert levels[0]["speedup"] == 1.0 and levels[1]["aggregate_img_s"] > 0
    assert result["train"]["epochs"] == 1 and 0 <= result["train"]["test_acc"] <= 1
    assert any(line.startswith("Totals: 2 runs") for plan in result["plan"]["plans"].values() for line in plan)
    readme = (out / "README.md").read_text()
    for heading in ("## Sections", "## Training speed per model", "## JumpNet under `trainer.compile`",
                    "## Several JumpNet trainings on one GPU", "## A real training run", "## Targets"):
        assert heading in readme
    assert "they measure nothing about any GPU" in readme


@pytest.mark.parametrize("make", [profiles.tiny_profile, profiles.full_profile])
def test_a_profile_gives_the_bench_typed_settings(make):
    """gpucheck times models through the bench's own settings, each field taken from the profile."""
    profile = make()
    settings = profiles.bench_settings(profile)
    for field in ("device", "steps", "repeats", "warmup", "batch_size", "workers", "threads", "compile_backend"):
        assert getattr(settings, field) == profile[field], field
    assert settings.models == tuple(profile["models"]) and settings.compile == () and settings.overrides == ()


def raises():
    raise ValueError("bad section")


def sleeps():
    time.sleep(30)
    return {}


def dies():
    os._exit(3)


def test_a_failing_slow_or_dying_section_is_recorded_and_the_check_goes_on():
    failed = runner.run_in_child("a", raises, {}, cap_s=20)
    assert failed.status == "failed" and "ValueError: bad section" in failed.error
    slow = runner.run_in_child("b", sleeps, {}, cap_s=0.5)
    assert slow.status == "timed out" and slow.seconds < 10
    crashed = runner.run_in_child("c", dies, {}, cap_s=20)
    assert crashed.status == "crashed" and "exit code 3" in crashed.error
    ok = runner.run_in_child("d", dict, {"x": 1}, cap_s=20)
    assert ok.status == "ok" and ok.result == {"x": 1}
    budget = runner.Budget(1.0)
    assert budget.run("e", dict, {}, cap_s=10, min_s=5).status == "skipped"  # 1 s left, it needs 5


def test_the_full_check_without_a_gpu_says_so_and_writes_nothing(tmp_path):
    proc = run_module("jumpnet.gpucheck", ["--out", str(tmp_path / "gpu")], timeout=120)
    assert proc.returncode == 2 and "measures a CUDA GPU" in proc.stderr and "--tiny" in proc.stderr
    assert not (tmp_path / "gpu").exists()
