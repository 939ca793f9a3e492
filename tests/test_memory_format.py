"""trainer.channels_last=auto: on for CUDA and for CPUs whose oneDNN runs AVX-512 kernels, off where it runs
AVX2 kernels, which crash or hang on it (tools/onednn_avx2_repro.py)."""
from __future__ import annotations

import importlib.util
import platform

import pytest
import torch

from jumpnet.config.compose import compose_config
from jumpnet.models.factory import build_model
from jumpnet.train import memory_format
from jumpnet.train.memory_format import hazardous_convs, memory_format_for, onednn_runs_avx512, use_channels_last
from tests.conftest import ROOT, WITH_TEST_CONF

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def load_repro():
    spec = importlib.util.spec_from_file_location("onednn_avx2_repro", ROOT / "tools" / "onednn_avx2_repro.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def avx2_cpu(monkeypatch):
    """A CPU whose oneDNN runs AVX2 kernels, as on the AVX2-only machines where the crash was found."""
    monkeypatch.setattr(memory_format.torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")


def test_auto_is_channels_last_on_cuda_and_avx512_cpus_only_and_explicit_choices_are_kept(avx2_cpu):
    assert compose_config([]).trainer.channels_last == "auto"
    assert not use_channels_last("auto", CPU) and use_channels_last("auto", CUDA)
    assert use_channels_last(True, CPU) and use_channels_last("true", CPU)
    assert not use_channels_last(False, CUDA)
    with pytest.raises(ValueError, match="trainer.channels_last='yes' is unknown; choose auto"):
        use_channels_last("yes", CPU)


@pytest.mark.parametrize("capability, caps, expected", [
    ("AVX512", {}, True),
    ("AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),           # how the repro forces the AVX2 kernels
    ("AVX512", {"DNNL_MAX_CPU_ISA": "avx2_vnni"}, False),        # oneDNN's older name, any case
    ("AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, True),
    ("AVX512", {"ONEDNN_MAX_CPU_ISA": "ALL"}, True),
    ("AVX2", {}, False),
    ("DEFAULT", {}, False),
])
def test_auto_on_the_cpu_follows_the_kernels_onednn_runs(monkeypatch, capability, caps, expected):
    monkeypatch.setattr(memory_format.torch.backends.cpu, "get_cpu_capability", lambda: capability)
    for name in memory_format.ISA_CAPS:
        monkeypatch.delenv(name, raising=False)
    for name, value in caps.items():
        monkeypatch.setenv(name, value)
    assert onednn_runs_avx512() is expected
    assert use_channels_last("auto", CPU) is expected


def test_hazardous_convs_are_found_and_explicit_true_on_an_avx2_cpu_warns(caplog, avx2_cpu):
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
