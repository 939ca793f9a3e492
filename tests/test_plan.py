"""``make plan``: every arm priced and its status read, from the same arms the sweeper runs; nothing created."""
from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from jumpnet.config.compose import compose_config
from jumpnet.run.hardware import cpu_label
from jumpnet.sweep import plan
from jumpnet.sweep.arms import load_sweep
from jumpnet.sweep.speeds import concurrency_levels, load_figures, pick
from jumpnet.sweep.status import run_state
from jumpnet.sweep.summary import left_out_row
from tests.conftest import ROOT, TINY_DATA, WITH_TEST_CONF

TINY_FLOPS = 3_826_304  # tiny_jumpnet's forward FLOPs per image (python -m jumpnet.describe)
GRID = ["model=tiny_jumpnet,tiny_resnet_v2", "ablation=full,concat", "seed=0", *TINY_DATA, "trainer.epochs=2",
        "trainer.device=cpu", "trainer.threads=1", "logger=none", "name=p", *WITH_TEST_CONF]


def table_rows(text: str) -> dict[str, list[str]]:
    """The plan's table by run folder name (override levels shared by all arms are named once, above it)."""
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| tiny_")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def write_bench(reports, device: str, img_s: float) -> None:
    (reports / "bench").mkdir(parents=True)
    (reports / "bench" / "bench.json").write_text(json.dumps({
        "device": device, "measured_at": "2026-01-01T00:00:00+00:00", "compile": False, "overrides": [],
        "models": [{"model": "tiny_jumpnet", "flops": TINY_FLOPS, "fast_img_s": img_s, "plain_img_s": img_s / 2}]}))


def test_plan_prices_every_arm_says_why_some_are_left_out_and_creates_nothing(exp_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything created relative to the working directory would show up here
    reports = tmp_path / "reports"
    text = plan.plan([*GRID, f"paths.experiments_dir={exp_dir}"], reports=reports)
    assert not exp_dir.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["reports"] * reports.exists()
    rows = table_rows(text)  # one row per arm, its seeds collapsed
    assert sorted(rows) == ["tiny_jumpnet-full", "tiny_resnet_v2-full"]
    seeds, status, epochs, pflop, estimate = rows["tiny_jumpnet-full"]
    assert seeds == "0"
    # 192 training images (256 - 64 held out), batch 128: one batch of 128 an epoch (the ragged 64 dropped)
    assert status == "to run" and epochs == "2" and float(pflop) == pytest.approx(3 * TINY_FLOPS * 128 * 2 / 1e15, 1e-3)
    assert estimate == "no measurement for this device"
    assert "all in data.test_size=128,data.train_size=256,data.val_size=64,data=synthetic,trainer.epochs=2/" in text
    assert "  tiny_jumpnet-concat (seed 0): builds the same network as tiny_jumpnet-full\n" in text
    assert "  tiny_resnet_v2-concat (seed 0): not a valid arm: ResNetV2 cannot merge its links by 'concat'" in text
    assert "Totals: 2 runs (2 to run)." in text and "Estimated time: no measurement for this device" in text


def test_an_arm_says_why_it_is_left_out_as_fields_and_each_tool_words_them(exp_dir):
    _, arms = load_sweep([*GRID, f"paths.experiments_dir={exp_dir}"])
    (invalid,) = [a for a in arms if a.kind == "invalid"]
    (duplicate,) = [a for a in arms if a.kind == "duplicate"]
    level = "data.test_size=128,data.train_size=256,data.val_size=64,data=synthetic,trainer.epochs=2"
    assert invalid.reason == "ResNetV2 cannot merge its links by 'concat' (ablation.merge=concat)"
    assert invalid.why == f"not a valid arm: {invalid.error}" and "Fix: set ablation.merge to one of" in invalid.why
    assert duplicate.duplicate_of == f"{level}/tiny_jumpnet-full-s0" and duplicate.reason is None
    assert left_out_row(duplicate, "a=b") == "a=b: builds the same network as tiny_jumpnet-full-s0"
    assert left_out_row(invalid, "x") == f"x: not a valid arm ({invalid.reason})"


def test_arms_that_differ_only_in_neutral_keys_are_one_run_in_one_folder(exp_dir):
    """trainer.compile and runs_per_gpu change speed, not what is measured: the folder and the sweep agree."""
    _, arms = load_sweep(["model=tiny_jumpnet", *TINY_DATA, "logger=none", "name=p", *WITH_TEST_CONF,
                          "trainer.compile=false,default", "trainer.runs_per_gpu=1,2", "trainer.epochs=1,2",
                          f"paths.experiments_dir={exp_dir}"])
    runs = [a for a in arms if not a.left_out]
    assert len(arms) == 8 and [a.run_dir.parent.name.split(",")[-1] for a in runs] == ["trainer.epochs=1",
                                                                                          "trainer.epochs=2"]
    assert {a.kind for a in arms if a.left_out} == {"duplicate"}
    assert {a.duplicate_of for a in arms if a.left_out} == {a.name for a in runs}


def test_plan_estimates_from_figures_of_the_same_device_and_reads_each_arms_status(exp_dir, tmp_path):
    reports = tmp_path / "reports"
    write_bench(reports, cpu_label(1), img_s=1000.0)
    _, arms = load_sweep([*GRID, f"paths.experiments_dir={exp_dir}"])  # the run folders the sweeper would use
    folders = {a.run_dir.name: a.run_dir for a in arms if not a.left_out}
    folders["tiny_jumpnet-full-s0"].mkdir(parents=True)
    (folders["tiny_jumpnet-full-s0"] / "metrics.json").write_text(json.dumps(
        {"model": "tiny_jumpnet", "ablation": "full", "seed": 0, "status": "completed", "epochs": 2, "test_acc": 0.5,
         "test_loss": 1.5}))  # a whole completed record: read and validated as the sweeper reads it
    folders["tiny_resnet_v2-full-s0"].mkdir()
    torch.save({"epoch": 1, "best_val_acc": 0.5}, folders["tiny_resnet_v2-full-s0"] / "checkpoint.pt")
    text = plan.plan([*GRID, f"paths.experiments_dir={exp_dir}"], reports=reports, runs=True)  # one row per run
    rows = table_rows(text)
    assert rows["tiny_jumpnet-full-s0"][0] == "done"
    assert rows["tiny_resnet_v2-full-s0"][0] == "to run (resumes after epoch 1)"
    # same TFLOP/s as measured: 2 epochs x 128 images + (2 x 64 val + 128 test) at a third of the cost, at 1000 img/s
    seconds = (2 * 128 + (2 * 64 + 128) / 3) / 1000
    assert rows["tiny_jumpnet-full-s0"][3] == plan.fmt_time(seconds)
    assert rows["tiny_resnet_v2-full-s0"][3] == f"no measurement of tiny_resnet_v2 on {cpu_label(1)}"
    assert "Totals: 2 runs (1 done, 1 to run)." in text
    assert f"Estimated time on {cpu_label(1)}: {plan.fmt_time(seconds)} in all, 0 s still to run" in text


def test_an_interrupted_run_shows_the_best_val_its_checkpoint_holds(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "interrupted", "epochs": 1, "best_val_acc": None}))
    torch.save({"epoch": 1, "best_val_acc": 0.25}, tmp_path / "checkpoint.pt")
    state = run_state(tmp_path)
    assert state["status"] == "interrupted" and state["epochs_done"] == 1 and state["best_val_acc"] == 0.25


@pytest.mark.parametrize("state,label", [
    ({"status": "completed", "epochs_done": 3}, "done"), ({"status": "diverged", "epochs_done": 1}, "diverged"),
    ({"status": "failed", "epochs_done": 0}, "failed (retried by the next sweep)"),
    ({"status": "running", "epochs_done": 2}, "running (epoch 2/3)"),
    ({"status": "new", "epochs_done": None}, "to run"),
])
def test_status_labels(state, label):
    assert plan.status_label(state, 3, overwrite=False) == label


def test_the_quick_preset_is_the_full_grid_on_a_short_schedule():
    presets = {name: OmegaConf.load(ROOT / "conf" / "experiment" / f"{name}.yaml")
               for name in ("ablation", "ablation_quick")}
    for key in ("params", "arms"):  # the grid and the seeds, the primary family's arms included
        assert presets["ablation_quick"].hydra.sweeper[key] == presets["ablation"].hydra.sweeper[key]
    assert presets["ablation_quick"].plan == presets["ablation"].plan
    quick = compose_config(["experiment=ablation_quick"])
    assert quick.trainer.epochs == 30 and quick.trainer.schedule == "onecycle" and quick.trainer.label_smoothing > 0
    assert quick.data.val_size == 5000 and quick.data.train_subset is None and quick.data.test_subset is None


def test_figures_come_from_bench_and_gpu_check_records_of_the_same_device(tmp_path):
    bench = {"device": "cpu (X, 2 threads)", "measured_at": "2026-01-01T00:00:00+00:00", "overrides": [],
             "models": [{"model": "jumpnet", "flops": 10, "fast_img_s": 100.0, "plain_img_s": 50.0,
                         "compiled": {"default": {"img_s": 150.0}}}]}
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "bench.json").write_text(json.dumps(bench))
    sections = [{"name": "models", "status": "ok", "result": {"overrides": {}, "models": bench["models"]}},
                {"name": "compile:reduce-overhead", "status": "ok",
                 "result": {"model": "jumpnet", "mode": "reduce-overhead", "img_s": 900.0, "flops": 10}},
                {"name": "compile:max-autotune", "status": "timed out", "result": None},
                {"name": "concurrency", "status": "ok", "result": {"levels": [{"runs": 1, "speedup": 1.0},
                                                                              {"runs": 4, "speedup": 2.5}]}}]
    for name, tiny in (("h100", False), ("tiny", True)):
        (tmp_path / "gpu" / name).mkdir(parents=True)
        (tmp_path / "gpu" / name / "gpucheck.json").write_text(json.dumps(
            {"device": "H100", "tiny": tiny, "measured_at": "2026-02-01T00:00:00+00:00", "sections": sections}))
    figures = load_figures(tmp_path)
    assert sorted((f.device, f.fast, str(f.compile), f.img_s) for f in figures) == [
        ("H100", False, "None", 50.0), ("H100", True, "None", 100.0), ("H100", True, "default", 150.0),
        ("H100", True, "reduce-overhead", 900.0),
        ("cpu (X, 2 threads)", False, "None", 50.0), ("cpu (X, 2 threads)", True, "None", 100.0),
        ("cpu (X, 2 threads)", True, "default", 150.0)]  # the tiny check and the timed-out section give none
    assert pick(figures, "H100", "jumpnet", True, "reduce-overhead").img_s == 900.0
    assert pick(figures, "H100", "jumpnet", True, None).img_s == 100.0
    assert pick(figures, "H200", "jumpnet", True, None) is None
    assert concurrency_levels("H100", tmp_path) == {1: 1.0, 4: 2.5}
