"""``make plan`` in seconds: each distinct config composed once, each network built once, the same figures.

The fast paths (``jumpnet.sweep.compose``, ``jumpnet.models.cost.NetworkCosts``) against the slow, direct ones
(Hydra composing every job; a model built and measured on its own), and the plan's two forms: one row per arm
(seeds collapsed, left-out arms grouped by reason) and ``--runs``.
"""
from __future__ import annotations

import json
import os

import pytest
import torch
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

import jumpnet.models.cost as cost
import jumpnet.models.factory as factory
import jumpnet.sweep.arms as arms_module
import jumpnet.sweep.prefetch as prefetch_module
from jumpnet.config.choices import STUDY_MODELS
from jumpnet.config.compose import compose_config
from jumpnet.models.cost import NetworkCosts, code_version, measure
from jumpnet.models.factory import resolve_model
from jumpnet.models.jumpnet import JumpNet
from jumpnet.paths import CONF_DIR
from jumpnet.plan import main
from jumpnet.sweep import plan
from jumpnet.sweep.arms import enumerate_arms, grid_jobs, load_sweep
from jumpnet.sweep.compose import SweepComposer
from jumpnet.sweep.grouping import seed_ranges
from jumpnet.sweep.prefetch import prefetch
from tests.conftest import TINY_DATA, WITH_TEST_CONF

SEEDED = ["model=tiny_jumpnet,tiny_resnet_v2", "ablation=full,concat,add_matched", "seed=0,1,2", *TINY_DATA,
          "trainer.epochs=2", "trainer.device=cpu", "trainer.threads=1", "logger=none", "name=p", *WITH_TEST_CONF]


def table(text: str) -> dict[str, list[str]]:
    """The plan's table: its first column, the others."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| tiny_")]
    return {cells[0]: cells[1:] for cells in rows}


@pytest.fixture
def costs(monkeypatch: pytest.MonkeyPatch) -> NetworkCosts:
    """A fresh cost cache, so a test counts the builds it causes."""
    fresh = NetworkCosts()
    for module in (cost, factory, prefetch_module, arms_module):   # the modules that hold the cache
        monkeypatch.setattr(module, "COSTS", fresh)
    return fresh


def test_every_job_composes_to_the_config_hydra_gives_it_with_one_composition_per_distinct_config(exp_dir):
    overrides = ["model=tiny_jumpnet,tiny_resnet_v2", "ablation=full,add_matched", "seed=0,1", *TINY_DATA,
                 "trainer.lr=0.1,0.05", "trainer.milestones=[0.3,0.6]", "logger=none", "name=p", *WITH_TEST_CONF,
                 f"paths.experiments_dir={exp_dir}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides, RunMode.MULTIRUN)
        jobs = grid_jobs(master.hydra.sweeper.get("params"), list(master.hydra.overrides.task), loader)
        direct = [OmegaConf.to_yaml(loader.load_sweep_config(master, job)) for job in jobs]
        composer = SweepComposer(loader, master)
        fast = [composer(job) for job in jobs]
    assert len(jobs) == 16 and composer.compositions == 4  # 2 models x 2 ablations; seeds and lr are set values
    assert [OmegaConf.to_yaml(cfg) for cfg in fast] == direct  # the hydra node too: overrides, override_dirname
    assert len({str(cfg.hydra.sweep.subdir) for cfg in fast}) == 16


def test_the_cost_cache_counts_what_a_direct_build_measures(costs):
    for overrides in (["model=jumpnet"], ["model=densenet", "model.width_mult=0.5", "ablation=no_links_matched"],
                      ["model=resnet_v2", "model.depth=20", "ablation=no_links_matched_macs"]):
        spec = resolve_model(compose_config(overrides))
        direct = measure(spec.build(), 32)  # a real model, built and measured on its own (describe's figures)
        assert (spec.costs("params"), spec.costs("flops"), spec.costs("macs")) == (
            direct["params"], direct["flops"], direct["macs"]), overrides


@pytest.mark.parametrize("model", STUDY_MODELS)
def test_the_flop_count_is_flop_counter_modes_on_every_family(model):
    """``cost``'s counter uses ``torch.utils.flop_counter``'s formulas without its module tracker: the same total."""
    ablation = "head_gap" if model == "plain_cnn" else "no_links"  # a switch each family has
    net = resolve_model(compose_config([f"model={model}", f"ablation={ablation}"])).build().eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.zeros(1, 3, 32, 32))
    assert measure(net, 32)["flops"] == counter.get_total_flops() > 0


def test_plan_prices_each_arm_from_one_build_of_its_network(exp_dir, costs):
    overrides = [*SEEDED, f"paths.experiments_dir={exp_dir}"]
    _, arms = load_sweep(overrides)
    runs = [a for a in arms if not a.left_out]
    builds = costs.builds
    flops = plan.ForwardFlops()
    priced = {a.name: plan.price_arm(a, flops, [], None)["PFLOP"] for a in runs}
    assert costs.builds == builds  # the full arms and the solved width were built (and counted) by the solves
    for arm in runs:  # the figure a direct build of the arm's model gives
        direct = measure(arm.spec.model.build(), 32)["flops"]
        assert priced[arm.name] == pytest.approx(3 * direct * 128 * 2 / 1e15, rel=1e-12)
    built_once = costs.builds
    load_sweep(overrides)  # the same sweep again: every count is cached
    assert costs.builds == built_once


def test_plan_has_one_row_per_arm_with_its_seeds_and_each_reason_for_leaving_out_once(exp_dir, capsys):
    overrides = [*SEEDED, f"paths.experiments_dir={exp_dir}"]
    _, arms = load_sweep(overrides)
    done = next(a for a in arms if a.name.endswith("tiny_jumpnet-full-s1"))
    done.run_dir.mkdir(parents=True)
    (done.run_dir / "metrics.json").write_text(json.dumps(
        {"model": "tiny_jumpnet", "ablation": "full", "seed": 1, "status": "completed", "epochs": 2, "test_acc": 0.5,
         "test_loss": 1.5}))
    text = plan.plan(overrides, reports=exp_dir / "no-reports")
    rows = table(text)
    assert sorted(rows) == ["tiny_jumpnet-add_matched", "tiny_jumpnet-full", "tiny_resnet_v2-full"]
    assert rows["tiny_jumpnet-full"][:3] == ["0-2", "2 to run, 1 done", "2"]  # statuses in seed order
    assert rows["tiny_resnet_v2-full"][:2] == ["0-2", "to run"]
    assert "| arm " in text and "PFLOP per run" in text and "est. time per run" in text
    left = text.split("Left out (", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert left == [
        "  tiny_jumpnet-concat (seeds 0-2): builds the same network as tiny_jumpnet-full",
        "  tiny_resnet_v2-concat (seeds 0-2): not a valid arm: " + next(
            a.why.removeprefix("not a valid arm: ") for a in arms if a.kind == "invalid"),
        "  tiny_resnet_v2-add_matched (seeds 0-2): builds the same network as tiny_resnet_v2-full"]
    assert "Totals: 9 runs (1 done, 8 to run)." in text

    assert main([*overrides, "--runs", "--reports", str(exp_dir / "no-reports")]) == 0
    long = capsys.readouterr().out
    runs = table(long)  # one row per run
    assert len(runs) == 9 and runs["tiny_jumpnet-full-s1"][0] == "done" and runs["tiny_jumpnet-full-s2"][0] == "to run"
    assert "  tiny_jumpnet-concat-s2: builds the same network as tiny_jumpnet-full-s2" in long
    assert long.count("not a valid arm") == 3 and "Totals: 9 runs (1 done, 8 to run)." in long


@pytest.mark.parametrize("seeds,text", [([0], "0"), ([2, 0, 1], "0-2"), ([0, 1, 2, 5], "0-2,5"), ([3, 7], "3,7"),
                                        ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "0-9")])
def test_seeds_collapse_into_ranges(seeds, text):
    assert seed_ranges(seeds) == text


def arms_of(overrides: list[str], workers: int) -> tuple[list[tuple], int]:
    """Every arm of the sweep, as the fields a tool reads, and how many jobs worker processes prepared."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", overrides, RunMode.MULTIRUN)
        jobs = grid_jobs(master.hydra.sweeper.get("params"), list(master.hydra.overrides.task), loader)
        composer = SweepComposer(loader, master)
        prepared = prefetch(jobs, composer, workers=workers)
        arms = enumerate_arms(jobs, composer, prepared)
    return [(a.name, a.kind, a.reason, a.duplicate_of, str(a.run_dir), OmegaConf.to_yaml(a.cfg),
             a.spec and a.spec.model.network_key(), a.spec and a.spec.model.record()) for a in arms], len(prepared)


def test_arms_prepared_by_worker_processes_are_the_arms_of_the_walk_alone(exp_dir, costs):
    overrides = ["model=tiny_jumpnet,tiny_resnet_v2", "ablation=full,concat,add,no_links,add_matched",
                 "seed=0,1", *TINY_DATA, "logger=none", "name=p", *WITH_TEST_CONF, f"paths.experiments_dir={exp_dir}"]
    alone, none = arms_of(overrides, workers=1)
    walked = costs.builds
    costs.__init__()  # empty again: what the parent builds after the workers is what they failed to hand back
    prefetched, prepared = arms_of(overrides, workers=2)
    kinds = [arm[1] for arm in alone]
    assert none == 0 and len(alone) == 20 and {"run", "invalid", "duplicate"} <= set(kinds)
    assert prepared == 20  # every job; an invalid one without a spec (the walk checks it again, to classify it)
    assert prefetched == alone  # configs (hydra node too), kinds, reasons, folders, networks, solved widths
    assert walked > 0 and costs.builds == 0  # every network was counted in the workers, none again in the walk


def tiny_net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2))


def unbuildable() -> torch.nn.Module:
    raise AssertionError("counted again: the store was not read")


def test_counts_are_kept_between_processes_and_a_damaged_store_is_counted_again(tmp_path):
    path = tmp_path / "cache" / "network-costs.json"
    first = NetworkCosts(lambda: path)
    params, flops = first.count("net v1", tiny_net, "params", 8), first.count("net v1", tiny_net, "flops", 8)
    first.save()
    again = NetworkCosts(lambda: path)  # the next process
    assert (again.count("net v1", unbuildable, "params", 8), again.count("net v1", unbuildable, "macs", 8)) == (
        params, flops // 2) and again.builds == 0
    assert again.count("net v2", tiny_net, "params", 8) == params and again.builds == 1  # another code version

    for damage in ("{not json", '["a list"]', '{"net v1": {"params": -3, "flops": "many"}}', ""):
        path.write_text(damage)
        recount = NetworkCosts(lambda: path)
        assert recount.count("net v1", tiny_net, "params", 8) == params and recount.builds == 1, damage
        recount.save()
        assert json.loads(path.read_text())["net v1"] == {"params": params, "flops": flops}

    blocked = NetworkCosts(lambda: tmp_path / "a-file" / "network-costs.json")
    (tmp_path / "a-file").write_text("not a folder")
    blocked.count("net v1", tiny_net, "params", 8)
    blocked.save()  # a cache that cannot be written is no error: the counts are taken again next time


def test_a_second_plan_builds_no_network(exp_dir, tmp_path, monkeypatch):
    overrides = [*SEEDED, f"paths.experiments_dir={exp_dir}"]
    for expected in ("some", 0):
        fresh = NetworkCosts(lambda: tmp_path / "network-costs.json")  # a new process, the same store
        for module in (cost, factory, prefetch_module, arms_module):
            monkeypatch.setattr(module, "COSTS", fresh)
        load_sweep(overrides)
        assert (fresh.builds > 0) if expected == "some" else fresh.builds == 0


def test_the_code_version_changes_with_the_familys_code(tmp_path, monkeypatch):
    family = tmp_path / "family"
    family.mkdir()
    (family / "netmod.py").write_text("class Net:\n    width = 1\n")
    monkeypatch.syspath_prepend(str(family))
    import netmod  # noqa: PLC0415 - a module made by this test

    before = code_version(netmod.Net)
    assert before == code_version(netmod.Net) and before != code_version(JumpNet)
    (family / "helper.py").write_text("SCALE = 2\n")  # a sibling the family may import
    code_version.cache_clear()
    assert code_version(netmod.Net) != before


def _dies_on_resnet(jobs: list[list[str]]):
    """A worker task that dies as one killed by the OOM killer would, on ResNet's jobs."""
    if "model=tiny_resnet_v2" in jobs[0]:
        os._exit(9)
    return REAL_PREPARE(jobs)


REAL_PREPARE = prefetch_module._prepare


def test_a_worker_that_dies_leaves_its_jobs_to_the_walk(exp_dir, costs, monkeypatch):
    overrides = ["model=tiny_jumpnet,tiny_resnet_v2", "ablation=full,concat,add,no_links,add_matched",
                 "seed=0,1", *TINY_DATA, "logger=none", "name=p", *WITH_TEST_CONF, f"paths.experiments_dir={exp_dir}"]
    alone, _ = arms_of(overrides, workers=1)
    monkeypatch.setattr(prefetch_module, "_prepare", _dies_on_resnet)
    arms, prepared = arms_of(overrides, workers=2)
    assert arms == alone and prepared < len(alone)  # no hang, no error: the same arms, the rest prepared by the walk
