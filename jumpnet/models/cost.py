"""What a model costs: parameters, FLOPs/MACs, the map entering the head, weight size."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

TRAIN_FLOPS_PER_FORWARD = 3  # a training image costs its forward and a backward of about twice the forward


def count_params(model: nn.Module) -> int:
    """Trainable parameters (BN running statistics are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def weight_size_mb(model: nn.Module) -> float:
    """fp32 size in MiB of everything a state_dict holds (parameters and BN statistics)."""
    floats = sum(t.numel() for t in model.state_dict().values() if t.is_floating_point())
    return floats * 4 / 2**20


@torch.no_grad()
def measure(model: nn.Module, image_size: int, in_chans: int = 3) -> dict:
    """Measure one image's forward pass on the CPU, in eval mode, at batch size 1.

    FLOPs follow ``torch.utils.flop_counter`` (2 per multiply-add, convolutions and
    matmuls only); ``macs`` is FLOPs / 2, the number CIFAR papers call "FLOPs".
    """
    was_training = model.training
    model.eval()
    x = torch.zeros(1, in_chans, image_size, image_size, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    feature_map = list(model.features(x).shape[1:])
    model.train(was_training)
    flops = int(counter.get_total_flops())
    return {
        "params": count_params(model),
        "flops": flops,
        "macs": flops // 2,
        "feature_map": feature_map,
        "size_mb": round(weight_size_mb(model), 4),
    }


@torch.no_grad()
def forward_flops(build: Callable[[], nn.Module], image_size: int, in_chans: int = 3) -> int:
    """``measure``'s ``flops`` without allocating or initializing weights: the model is built on the meta device.

    Shapes alone decide the count, so this is exact; ``NetworkCosts`` (below) caches counts per network for
    tools that count many (``make plan``, the width solve).
    """
    with torch.device("meta"):
        model = build()
    return _count_flops(model, image_size, in_chans)


@torch.no_grad()
def _count_flops(model: nn.Module, image_size: int, in_chans: int) -> int:
    """FLOPs of one image through ``model``, on the device its weights are on (``torch.utils.flop_counter``)."""
    model.eval()
    x = torch.zeros(1, in_chans, image_size, image_size, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    return int(counter.get_total_flops())


class NetworkCosts:
    """Parameters and forward FLOPs per image of each distinct network, each network built once.

    Keyed by a string that equal networks share (``ModelSpec.network_key``: class, integer widths, resolved
    switches), so a sweep's seeds, its duplicate arms, a width solve's probes and the plan's pricing of the solved
    arm all reuse one build and its counts, both taken when the network is first asked for. The build is on the
    CPU with the global RNG state restored afterwards, and the counting forward runs on one thread: for one image a
    real CPU build and forward are faster than the same on ``meta`` (whose every op goes through Python meta
    kernels), and more threads only spin (on a busy 2-core machine, 20x the CPU time). Counts depend on shapes
    alone, so both ways agree (``tests/test_plan.py`` compares them with ``measure``).
    """

    def __init__(self):
        self._counts: dict[str, dict[str, int]] = {}
        self.builds = 0  # networks built: what the cache saves is visible (tests, profiling)

    @torch.no_grad()
    def count(self, key: str, build: Callable[[], nn.Module], what: str, image_size: int, in_chans: int = 3) -> int:
        """``params``, ``flops`` or ``macs`` (FLOPs / 2) of the network ``key`` names, which ``build`` builds."""
        if key not in self._counts:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.random.fork_rng(devices=[]):  # a run's seeded stream is left as it was
                    model = build()
                self.builds += 1
                self._counts[key] = {"params": count_params(model), "flops": _count_flops(model, image_size, in_chans)}
            finally:
                torch.set_num_threads(threads)
        counts = self._counts[key]
        return counts["flops"] // 2 if what == "macs" else counts[what]


COSTS = NetworkCosts()  # the process's one cache: shapes alone decide a count, so it never goes stale
