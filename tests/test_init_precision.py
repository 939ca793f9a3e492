"""Residual blocks start as their shortcut (``model.zero_init_last``) and wake at the first step; the training
precision (``trainer.precision``) resolves per device and the run record says which ran."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from baselines.resnet_v2 import ResBlock, ResNetV2
from jumpnet.config.compose import compose_config
from jumpnet.models.factory import build_model
from jumpnet.models.jumpnet import Block, JumpNet
from jumpnet.train import precision
from jumpnet.train.evaluate import autocast_for
from jumpnet.train.precision import resolve_precision
from tests.conftest import TINY_DATA, TINY_JUMPNET, find_runs, run_py

TINY_RESNET = {"depth": 11, "bottleneck": True, "widths": (4, 8, 16), "stem": 4}


def last_conv(branch: nn.Module) -> nn.Conv2d:
    return [m for m in branch.modules() if isinstance(m, nn.Conv2d)][-1]


def branches(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """Each block's residual branch and whether the block adds it to a shortcut."""
    out = []
    for m in model.modules():
        if isinstance(m, Block):
            out.append((m.residual, m.identity))
        elif isinstance(m, ResBlock):
            out.append((m.units, m.links))
    return out


@pytest.mark.parametrize("build", [
    lambda **kw: ResNetV2(**TINY_RESNET, **kw), lambda **kw: JumpNet(stem=(4, 8), groups=((8, 2), (16, 1)), **kw)])
@pytest.mark.parametrize("ablation", [{}, {"links": False}, {"residual": False}])
def test_blocks_with_a_shortcut_start_as_it_and_others_keep_he_init(build, ablation):
    torch.manual_seed(0)
    model = build(**ablation)
    found = branches(model)
    assert found
    for branch, added in found:
        zero = bool((last_conv(branch).weight == 0).all())
        assert zero == added, "only a branch added to a shortcut starts at zero"
    torch.manual_seed(0)
    off = build(**ablation, zero_init_last=False)
    assert sum(p.numel() for p in off.parameters()) == sum(p.numel() for p in model.parameters())
    assert not any(bool((last_conv(b).weight == 0).all()) for b, _ in branches(off))


def test_a_zeroed_branch_learns_from_the_first_step():
    """The last conv, not the last BN's gamma, is zeroed: a zero gamma before a ReLU would never get a gradient."""
    torch.manual_seed(0)
    model = ResNetV2(**TINY_RESNET)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    assert all(bool((last_conv(b).weight != 0).any()) for b, added in branches(model) if added)


def test_zero_init_last_is_a_model_field_every_residual_preset_sets():
    cfg = compose_config(["model=resnet_v2", "logger=none", *TINY_DATA])
    assert cfg.model.zero_init_last is True
    off = compose_config(["model=jumpnet", *TINY_JUMPNET, "model.zero_init_last=false", "logger=none", *TINY_DATA])
    assert not any(bool((last_conv(b).weight == 0).all()) for b, _ in branches(build_model(off)))


def test_precision_auto_is_bf16_on_cuda_and_on_cpus_with_native_bf16(monkeypatch):
    assert resolve_precision("fp32", torch.device("cuda")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cuda"), fast=False) == "fp32"  # the plain loop stays fp32
    for caps, expected in (({"amx_bf16": True}, "bf16"), ({"avx512_bf16": True}, "bf16"),
                           ({"amx_bf16": False, "avx512_bf16": False, "avx512_f": True}, "fp32")):
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda caps=caps: caps)
        precision.cpu_has_bf16.cache_clear()
        assert resolve_precision("auto", torch.device("cpu")) == expected, caps
    precision.cpu_has_bf16.cache_clear()
    with pytest.raises(ValueError, match="trainer.precision='fp16' is unknown"):
        resolve_precision("fp16", torch.device("cpu"))


def test_bf16_autocast_runs_convolutions_in_bf16_on_the_cpu():
    conv = nn.Conv2d(3, 4, 3)
    with autocast_for(torch.device("cpu"), True):
        assert conv(torch.randn(2, 3, 8, 8)).dtype == torch.bfloat16
    with autocast_for(torch.device("cpu"), False):
        assert conv(torch.randn(2, 3, 8, 8)).dtype == torch.float32


def test_a_typo_in_precision_fails_when_the_config_is_composed():
    with pytest.raises(Exception, match="precision"):
        compose_config(["trainer.precision=bf61", "logger=none", *TINY_DATA])


def test_the_record_says_which_precision_ran_and_the_split_sizes_it_used(exp_dir):
    """``data.val_size`` is held out of train first, then ``data.train_subset`` slices what remains: a run with
    train_subset=120 and val_size=50 trains on 120 images and validates on 50 (the log line says so too)."""
    data = [o for o in TINY_DATA if not o.startswith("data.val_size=")]
    out = run_py(["model=jumpnet", *TINY_JUMPNET, *data, "data.val_size=50", "data.train_subset=120",
                  "data.test_subset=40", "trainer.epochs=1", "trainer.batch_size=32", "trainer.precision=bf16",
                  "logger=none", f"paths.experiments_dir={exp_dir}"], timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    (record,) = find_runs(exp_dir).values()
    assert record["status"] == "completed" and record["precision"] == "bf16"
    assert record["splits"] == {"train": 120, "val": 50, "test": 40}
    assert "{'train': 120, 'val': 50, 'test': 40}" in out.stdout + out.stderr


def test_the_smoke_slice_trains_on_train_subset_images_and_validates_on_val_size_more():
    """What ``make plan`` prices and the report's caption says, for the smoke preset: the same sizes a run records."""
    from jumpnet.report.setup import setup_items
    from jumpnet.sweep.plan import split_sizes

    data = compose_config(["experiment=smoke", "logger=none"]).data
    train, val, _ = split_sizes(data)
    assert (train, val) == (int(data.train_subset), int(data.val_size))
    run = pd.DataFrame([{"model": "jumpnet", "ablation": "full", "seed": 0, "data.name": "cifar10",
                         "data.val_size": val, "data.train_subset": data.train_subset,
                         "data.test_subset": data.test_subset}])
    assert setup_items(run)["Splits"].startswith(f"train {train:,}, val {val:,}, test {int(data.test_subset):,}")
