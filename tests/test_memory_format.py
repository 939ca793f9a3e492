"""channels_last is off on the CPU by default: oneDNN's AVX2 kernels crash or hang on it (tools/onednn_avx2_repro.py)."""
from __future__ import annotations

import importlib.util
import platform

import pytest
import torch

from jumpnet.configs import compose_config
from jumpnet.factory import build_model
from jumpnet.memory_format import hazardous_convs, memory_format_for, use_channels_last
from tests.conftest import ROOT, WITH_TEST_CONF

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def load_repro():
    spec = importlib.util.spec_from_file_location("onednn_avx2_repro", ROOT / "tools" / "onednn_avx2_repro.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_auto_is_channels_last_on_cuda_only_and_explicit_choices_are_kept():
    assert compose_config([]).trainer.channels_last == "auto"
    assert not use_channels_last("auto", CPU) and use_channels_last("auto", CUDA)
    assert use_channels_last(True, CPU) and use_channels_last("true", CPU)
    assert not use_channels_last(False, CUDA)
    with pytest.raises(ValueError, match="trainer.channels_last='yes' is unknown; choose auto"):
        use_channels_last("yes", CPU)


def test_hazardous_convs_are_found_and_explicit_true_on_cpu_warns(caplog):
    tiny_resnet = build_model(compose_config([*WITH_TEST_CONF, "model=tiny_resnet_v2"]))
    assert hazardous_convs(tiny_resnet) == ["learner.1.0.shortcut"]  # 1x1, stride 2, 4 input channels
    assert memory_format_for(tiny_resnet, "auto", CPU) == torch.contiguous_format
    with caplog.at_level("WARNING"):
        assert memory_format_for(tiny_resnet, True, CPU) == torch.channels_last
    assert "learner.1.0.shortcut" in caplog.text and "onednn_avx2_repro" in caplog.text


MODELS = ["jumpnet", "resnet_v2", "resnet_v2_110", "densenet", "densenet40", "sparsenet", "plain_cnn",
          "tiny_jumpnet", "tiny_densenet", "tiny_sparsenet", "tiny_plain_cnn"]
ARMS = [(m, a) for m in MODELS for a in ("full", "no_links", "add") if "plain_cnn" not in m or a == "full"]


@pytest.mark.parametrize("model, ablation", ARMS)
def test_study_models_have_no_hazardous_conv(model, ablation):
    net = build_model(compose_config([*WITH_TEST_CONF, f"model={model}", f"ablation={ablation}"]))
    assert hazardous_convs(net) == []


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="forces oneDNN's x86 AVX2 kernels")
def test_the_crashing_shape_is_safe_in_the_default_format_on_avx2_kernels():
    """The reproduction's failing conv and model, in the default CPU format, with oneDNN held to AVX2."""
    repro = load_repro()
    for threads in ("1", "2"):
        assert repro.run_probe(["conv", threads, "contiguous", "4", "8", "1", "2"], "AVX2", timeout=90) == "ok"
    assert repro.run_probe(["model", "2", "contiguous", "model=tiny_resnet_v2"], "AVX2", timeout=90) == "ok"
