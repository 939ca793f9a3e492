"""Every CIFAR model under every ablation variant: it builds and runs, or is rejected by name, before building."""
from __future__ import annotations

import functools

import pytest
import torch

from jumpnet.config.compose import compose_config
from jumpnet.models.cost import count_params
from jumpnet.models.factory import build_model, check_model
from jumpnet.models.network import AblationError

pytestmark = pytest.mark.usefixtures("one_thread")

ABLATIONS = ["full", "no_links", "add", "concat", "no_residual", "no_shortcuts"]
NO_ADDS = {a: ["blocks have no identity add to remove", "supports only residual=true"]
           for a in ("no_residual", "no_shortcuts")}
# For each model, the variants it rejects and words its error must contain (the supported combos).
REJECTS = {
    "jumpnet": {},
    "resnet_v2": {"concat": ["merge in ['add']", "links=false with merge=null"]},
    "resnet_v2_110": {"concat": ["merge in ['add']", "links=false with merge=null"]},
    "densenet": NO_ADDS,
    "densenet40": NO_ADDS,
    "sparsenet": NO_ADDS,
    "plain_cnn": {a: ["supports only links=true with merge=null"]
                  for a in ("no_links", "add", "concat", "no_residual", "no_shortcuts")},
}
CASES = [(m, a) for m in REJECTS for a in ABLATIONS]


def config(model: str, ablation: str, *overrides: str):
    return compose_config([f"model={model}", f"ablation={ablation}", *overrides])


@functools.cache
def build(model: str, ablation: str, *overrides: str) -> torch.nn.Module:
    """Each variant is built once per test session (the tests only read the nets, in eval mode)."""
    return build_model(config(model, ablation, *overrides)).eval()


@pytest.fixture(scope="module")
def params() -> dict[tuple[str, str], int]:
    """Trainable parameters of every variant that builds."""
    return {(m, a): count_params(build(m, a)) for m, a in CASES if a not in REJECTS[m]}


@pytest.mark.parametrize("model, ablation", CASES)
def test_variant_builds_and_runs_or_is_rejected(model: str, ablation: str) -> None:
    cfg = config(model, ablation)
    if ablation in REJECTS[model]:
        with pytest.raises(AblationError) as err:
            check_model(cfg)  # rejected before any layer is built
        for words in REJECTS[model][ablation]:
            assert words in str(err.value)
        with pytest.raises(AblationError):
            build_model(cfg)
        return
    with torch.no_grad():
        assert build(model, ablation)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("model", list(REJECTS))
def test_fc_head_runs(model: str) -> None:
    net = build(model, "full", "ablation.head=fc", "data=cifar100")
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_own_merge_is_the_published_net(params: dict) -> None:
    """full (merge=null) resolves to each model's own merge: concat for the dense nets and JumpNet."""
    for m in ("jumpnet", "densenet", "densenet40", "sparsenet"):
        assert params[(m, "concat")] == params[(m, "full")], m
    for m in ("resnet_v2", "resnet_v2_110"):
        assert params[(m, "add")] == params[(m, "full")], m


def test_removing_identity_adds_costs_no_parameters(params: dict) -> None:
    assert params[("jumpnet", "no_residual")] == params[("jumpnet", "full")]
    assert params[("jumpnet", "no_shortcuts")] == params[("jumpnet", "no_links")]
    for m in ("resnet_v2", "resnet_v2_110"):  # its identity adds are its links: the same plain net
        assert params[(m, "no_residual")] == params[(m, "no_shortcuts")] == params[(m, "no_links")]


def test_resnet_no_links_drops_exactly_the_projection_shortcuts(params: dict) -> None:
    # bottleneck 164: 16->64, 64->128 (stride 2), 128->256 (stride 2); basic 110: 16->32, 32->64.
    assert params[("resnet_v2", "full")] - params[("resnet_v2", "no_links")] == 16 * 64 + 64 * 128 + 128 * 256
    assert params[("resnet_v2_110", "full")] - params[("resnet_v2_110", "no_links")] == 16 * 32 + 32 * 64


def test_jumpnet_variant_directions(params: dict) -> None:
    full = params[("jumpnet", "full")]
    assert params[("jumpnet", "add")] > full  # both branches project to 2 * n_filters
    assert params[("jumpnet", "no_links")] < full  # the jump's BN gone; pooling alone projects to 2 * n_filters


@pytest.mark.parametrize("model", ["densenet", "densenet40", "sparsenet"])
def test_dense_variants_are_lighter_than_concat(params: dict, model: str) -> None:
    """add and no_links run the learner at width k (see baselines/densenet.py), far below concat's growth."""
    full = params[(model, "full")]
    assert params[(model, "add")] < full / 2
    assert params[(model, "no_links")] < full / 2


@pytest.mark.parametrize("model", ["densenet", "sparsenet"])
@pytest.mark.parametrize("ablation", ["add", "no_links"])
def test_dense_variants_hand_k_channels_to_the_head(model: str, ablation: str) -> None:
    k = int(config(model, ablation).model.growth_rate)
    with torch.no_grad():
        assert build(model, ablation).features(torch.zeros(1, 3, 32, 32)).shape[1] == k


SMALL = {"jumpnet": [], "resnet_v2": ["model.depth=11"], "resnet_v2_110": ["model.depth=8"],
         "densenet": ["model.depth=16"], "densenet40": ["model.depth=10"], "sparsenet": ["model.depth=10"],
         "plain_cnn": []}


@pytest.mark.parametrize("model, ablation", [(m, a) for m, a in CASES if a not in REJECTS[m]])
def test_variant_trains(model: str, ablation: str) -> None:
    """A training step (train-mode BN, channels_last, backward) reaches every parameter."""
    net = build_model(config(model, ablation, *SMALL[model])).to(memory_format=torch.channels_last)
    net(torch.randn(2, 3, 32, 32).to(memory_format=torch.channels_last)).logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
