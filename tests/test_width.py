"""model.width_mult, matched arms (ablation.match) and the residual switch, on the real configs."""
from __future__ import annotations

import pytest
import torch
from hydra.errors import ConfigCompositionException

from jumpnet.config.compose import compose_config
from jumpnet.describe import describe
from jumpnet.errors import ConfigError
from jumpnet.models.factory import check_model, resolve_model
from jumpnet.models.matching import TOLERANCE, budget, solve_width
from jumpnet.models.network import AblationError
from jumpnet.run.pipeline import execute
from tests.conftest import TINY_DATA, WITH_TEST_CONF

pytestmark = pytest.mark.usefixtures("one_thread")

IMAGENET = ["data.image_size=224", "data.num_classes=1000"]
# (params, MACs) of every preset's full arm before width_mult existed: 1.0 must leave them exactly as they were.
COUNTS = {
    "jumpnet": (810_714, 122_079_744), "resnet_v2": (1_703_258, 247_646_720),
    "resnet_v2_110": (1_730_522, 253_149_824), "densenet": (769_162, 287_929_692),
    "densenet40": (1_019_722, 264_812_928), "sparsenet": (748_522, 312_054_720), "plain_cnn": (814_570, 39_160_320),
    "jumpnet50": (15_599_496, 9_388_752_896), "jumpnet101": (27_880_840, 18_996_854_784),
    "jumpnet152": (37_996_424, 28_604_956_672),
}
# What width_mult=0.5 and 2 build: each family's natural widths scaled, rounded, still chaining.
WIDTHS = {
    "jumpnet": ({"stem": [8, 16], "groups": [[16, 3], [32, 4], [64, 3]]},
                {"stem": [32, 64], "groups": [[64, 3], [128, 4], [256, 3]]}),
    "resnet_v2": ({"stem": 8, "widths": [8, 16, 32]}, {"stem": 32, "widths": [32, 64, 128]}),
    "densenet": ({"growth_rate": 6, "bottleneck_width": 24, "stem": 12},
                 {"growth_rate": 24, "bottleneck_width": 96, "stem": 48}),
    "densenet40": ({"growth_rate": 6, "bottleneck_width": None, "stem": 8},
                   {"growth_rate": 24, "bottleneck_width": None, "stem": 32}),
    "sparsenet": ({"growth_rate": 12, "bottleneck_width": None, "stem": 24},
                  {"growth_rate": 48, "bottleneck_width": None, "stem": 96}),
    "plain_cnn": ({"stages": [[16, 16], [32, 32], [64, 64]]}, {"stages": [[64, 64], [128, 128], [256, 256]]}),
}


def spec(*overrides: str):
    return resolve_model(compose_config(list(overrides)))


@pytest.mark.parametrize("model", list(COUNTS))
def test_width_one_leaves_every_count_unchanged(model: str) -> None:
    extra = IMAGENET if model.startswith("jumpnet") and model != "jumpnet" else []
    size = 224 if extra else 32
    for s in (spec(f"model={model}", *extra), spec(f"model={model}", "model.width_mult=1.0", *extra)):
        assert (budget(s.build, "params", size), budget(s.build, "macs", size)) == COUNTS[model]


@pytest.mark.parametrize("model", list(WIDTHS))
def test_half_and_double_width_scale_the_natural_widths(model: str) -> None:
    half, double = (spec(f"model={model}", f"model.width_mult={w}") for w in (0.5, 2))
    assert (half.widths(), double.widths()) == WIDTHS[model]
    params = [budget(s.build, "params", 32) for s in (half, spec(f"model={model}"), double)]
    assert params[0] < COUNTS[model][0] == params[1] < params[2]


def test_any_width_builds_widths_that_chain() -> None:
    net = spec("model=jumpnet", "model.width_mult=0.37").build()  # stem 6, 12; groups 12, 24, 48
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10) and list(net.features(torch.zeros(1, 3, 32, 32)).shape) == [
        1, 96, 4, 4]


MATCHED = [(m, v, "params") for m in ("jumpnet", "densenet", "sparsenet") for v in ("add", "no_links")] + [
    ("densenet", "add", "macs"), ("sparsenet", "no_links", "macs"), ("jumpnet", "add", "macs")]  # README: all 12


@pytest.mark.parametrize("model, variant, match", MATCHED)
def test_matched_variants_land_within_two_percent_of_full(model: str, variant: str, match: str) -> None:
    preset = f"{variant}_matched" + ("_macs" if match == "macs" else "")
    s = spec(f"model={model}", f"ablation={preset}")
    assert s.solve.match == match and s.solve.target == COUNTS[model][match == "macs"]
    assert 1 - TOLERANCE <= s.solve.ratio <= 1 + TOLERANCE and s.solve.gap is None
    assert budget(s.build, match, 32) == s.solve.value  # the solved width is what gets built
    assert s.arch["width_mult"] == s.solve.width_mult


def test_matched_record_reaches_metrics_before_data_is_read(tmp_path) -> None:
    """The solve runs first: a run whose data cannot be read still records its matched width (and the gap)."""
    cfg = compose_config([*WITH_TEST_CONF, "model=tiny_densenet", "ablation=add_matched", *TINY_DATA,
                          "data.train_subset=100000", "logger=none", "trainer.threads=1"])
    execute(cfg, tmp_path / "run", multirun=True)
    record = __import__("json").loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "failed" and "train_subset" in record["error"]
    assert record["match"] == "params" and record["match_target"] == 10_490 and record["match_width_mult"] == 2.63
    # k = 4 is too coarse for 2%: the nearest width is used and the gap recorded
    assert record["match_ratio"] == pytest.approx(11_267 / 10_490, abs=1e-6)
    assert record["match_gap"] == pytest.approx(11_267 / 10_490 - 1, abs=1e-6)
    assert record["widths"]["growth_rate"] == 11 and record["width_mult"] == 1.0


def test_solve_width_finds_the_nearest_step() -> None:
    def cost(w: float) -> int:  # a step function of an integer width, like a model's budget
        return 100 * round(10 * w) ** 2

    assert solve_width(cost, 100 * 14 ** 2, 1.0)[1] == 100 * 14 ** 2     # an exact step: found
    width, value = solve_width(cost, 30_000, 1.0)                        # between 17^2 and 18^2: the nearer
    assert value == 100 * 17 ** 2 and round(10 * width) == 17
    assert solve_width(cost, 100, 1.0)[1] == 100                          # shrinking works too
    assert solve_width(lambda w: 5, 1000, 1.0)[1] == 5                    # unreachable: the nearest tried


def test_describe_shows_the_width_and_the_solve() -> None:
    out = describe(["model=densenet", "ablation=add_matched_macs", "model.width_mult=0.5"])
    assert out["width_mult"] == 0.5 and out["match"] == "macs" and out["match_gap"] is None
    assert out["macs"] == pytest.approx(out["match_target"] * out["match_ratio"], rel=1e-6)
    assert out["widths"]["growth_rate"] == round(12 * out["match_width_mult"])
    assert describe(["model=jumpnet", "model.width_mult=2"])["widths"]["stem"] == [32, 64]


def test_bad_width_or_match_is_rejected_naming_the_value() -> None:
    with pytest.raises(ConfigError, match=r"model.width_mult=0.0 must be a positive number"):
        check_model(compose_config(["model.width_mult=0"]))
    with pytest.raises(ConfigError, match=r"model.width_mult='wide' must be a positive number"):
        check_model(compose_config(["model.width_mult=wide"]))
    with pytest.raises(ConfigCompositionException) as err:  # the schema's enum: before anything is built
        compose_config(["ablation.match=flops"])
    assert "expected one of [params, macs]" in str(err.value.__cause__)


def test_residual_switch_removes_jumpnets_block_adds_and_means_no_links_in_resnet() -> None:
    plain, kept = spec("model=jumpnet", "ablation=no_residual"), spec("model=jumpnet")
    torch.manual_seed(0)
    a = plain.build().eval()
    b = kept.build().eval()
    b.load_state_dict(a.state_dict())  # same weights: only the identity adds differ
    x = torch.randn(2, 3, 32, 32)
    block = a.learner[0].blocks[0]
    with torch.no_grad():
        assert torch.allclose(block(x[:, :1].expand(2, 32, 32, 32).contiguous()),
                              block.residual(x[:, :1].expand(2, 32, 32, 32).contiguous()))
        assert not torch.allclose(a(x), b(x))
    assert budget(plain.build, "params", 32) == COUNTS["jumpnet"][0]  # an add has no parameters
    shortcuts = spec("model=jumpnet", "ablation=no_shortcuts").build()
    assert shortcuts.learner[0].jump is None and not shortcuts.learner[0].blocks[0].identity
    resnet = {a: spec("model=resnet_v2", f"ablation={a}").network_key() for a in ("no_links", "no_residual",
                                                                                  "no_shortcuts", "full")}
    assert resnet["no_links"] == resnet["no_residual"] == resnet["no_shortcuts"] != resnet["full"]
    for model in ("densenet", "sparsenet", "plain_cnn"):
        with pytest.raises(AblationError, match=r"identity add|residual=false"):
            check_model(compose_config([f"model={model}", "ablation=no_shortcuts"]))
