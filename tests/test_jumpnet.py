"""JumpNet's architecture: the published parameter counts and shapes, and the group-width rule."""
from __future__ import annotations

import json

import pytest
import torch

from jumpnet.config.compose import compose_config
from jumpnet.models.cost import measure
from jumpnet.models.factory import build_model
from jumpnet.models.jumpnet import JumpNet
from tests.conftest import run_module


def test_cifar_jumpnet_matches_published_counts():
    model = build_model(compose_config(["model=jumpnet"]))
    m = measure(model, 32)
    assert m["params"] == 810_714            # the draft's count with bias-free convs
    assert m["feature_map"] == [256, 4, 4]    # 4x4x256 where other CIFAR nets end at 8x8x1024
    assert m["flops"] == 244_159_488 and m["macs"] == m["flops"] // 2   # NOTES.md, FlopCounterMode
    assert m["size_mb"] == pytest.approx((810_714 + 2 * 2704) * 4 / 2**20, abs=1e-3)  # + BN statistics


def test_conv_bias_adds_one_bias_per_conv_channel():
    model = build_model(compose_config(["model=jumpnet", "model.conv_bias=true"]))
    assert measure(model, 32)["params"] == 813_418


def test_jumpnet50_imagenet_shape():
    model = build_model(compose_config(["model=jumpnet50", "data.image_size=224", "data.num_classes=1000"]))
    assert list(model.features(torch.zeros(1, 3, 224, 224)).shape[1:]) == [1024, 7, 7]
    assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)


@pytest.mark.parametrize("name,blocks", [("jumpnet101", [3, 4, 23, 3]), ("jumpnet152", [3, 8, 36, 3])])
def test_deeper_presets_are_just_data(name, blocks):
    cfg = compose_config([f"model={name}"])
    assert [g[1] for g in cfg.model.groups] == blocks
    assert list(cfg.model.stem) == [32, 64] and cfg.model.stem_stride == 2


def test_groups_that_do_not_chain_are_rejected_naming_the_group():
    with pytest.raises(ValueError, match=r"model.groups\[1\]=\(32, 3\) receives 64 channels"):
        JumpNet(groups=((32, 3), (32, 3)))
    with pytest.raises(ValueError, match=r"model.groups\[0\]=\(16, 2\) receives 32 channels"):
        JumpNet(stem=(16, 32), groups=((16, 2),))


def test_describe_prints_one_json_object():
    out = run_module("jumpnet.describe", ["model=jumpnet"])
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["params"] == 810_714 and info["feature_map"] == [256, 4, 4]
    assert set(info) >= {"params", "flops", "macs", "feature_map", "size_mb"}


def test_describe_rejects_unknown_model_listing_choices():
    out = run_module("jumpnet.describe", ["model=jumpnett"])
    assert out.returncode != 0
    assert out.stderr.startswith("error: model=jumpnett is not an option") and "did you mean jumpnet?" in out.stderr
    assert "jumpnet50" in out.stderr and "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1


def test_describe_rejects_widths_that_do_not_chain():
    out = run_module("jumpnet.describe", ["model.groups=[[32,3],[32,3]]"])
    assert out.returncode != 0 and "model.groups[1]" in out.stderr


def test_fc_head_adds_exactly_its_hidden_layer():
    """ablation.head=fc: flatten 256x4x4, FC 256 + ReLU + dropout, then the classifier (the gap head's linear goes)."""
    gap = measure(build_model(compose_config(["model=jumpnet"])), 32)
    fc = measure(build_model(compose_config(["model=jumpnet", "ablation=head_fc"])), 32)
    flat, hidden, classes = 256 * 4 * 4, 256, 10
    expected = (flat * hidden + hidden + hidden * classes + classes) - (256 * classes + classes)
    assert fc["params"] - gap["params"] == expected == 1_048_832
    assert fc["macs"] - gap["macs"] == flat * hidden + hidden * classes - 256 * classes
    assert fc["feature_map"] == gap["feature_map"] == [256, 4, 4]
