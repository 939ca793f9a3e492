"""What a model costs: parameters, FLOPs/MACs, the map entering the head, weight size."""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from jumpnet.atomic import write_text_atomic
from jumpnet.paths import cost_store

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
    flops = _count_flops(model, image_size, in_chans)
    x = torch.zeros(1, in_chans, image_size, image_size, device=next(model.parameters()).device)
    feature_map = list(model.features(x).shape[1:])
    model.train(was_training)
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


class _FlopSum(TorchDispatchMode):
    """``FlopCounterMode``'s count (its formulas: ``flop_registry``, per aten op) without its per-module tracker.

    The tracker hooks every module and makes a count 2-3x slower; nothing here reads a per-module breakdown. And a
    dispatch mode's first use imports ``torch._dynamo`` (~1 s a process) unless it opts out, as this one does.
    ``tests/test_plan_fast.py`` checks the totals against ``FlopCounterMode`` on every family.
    """

    def __init__(self):
        super().__init__()
        self.total = 0

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """Never run under ``torch.compile``: skip the wrapper that imports ``torch._dynamo`` (~1 s) on first use."""
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


@torch.no_grad()
def _count_flops(model: nn.Module, image_size: int, in_chans: int) -> int:
    """FLOPs of one image through ``model`` in eval mode, on the device its weights are on."""
    model.eval()
    x = torch.zeros(1, in_chans, image_size, image_size, device=next(model.parameters()).device)
    with _FlopSum() as counter:
        model(x)
    return int(counter.total)


class NetworkCosts:
    """Parameters and forward FLOPs per image of each distinct network, each network built once.

    Keyed by a string that equal networks share (``ModelSpec.network_key``: class, integer widths, resolved
    switches, with ``code_version``), so a sweep's seeds, its duplicate arms, a width solve's probes and the plan's
    pricing of the solved arm all reuse one build and its counts, both taken when the network is first asked for.
    The build is on the CPU with the global RNG state restored afterwards, and the counting forward runs on one
    thread: for one image a real CPU build and forward are faster than the same on ``meta`` (whose every op goes
    through Python meta kernels), and more threads only spin (on a busy 2-core machine, 20x the CPU time). Counts
    depend on shapes alone, so both ways agree (``tests/test_plan.py`` compares them with ``measure``).

    ``store``: a JSON file that keeps the counts between processes (``save``), so the next ``make plan`` builds
    nothing it counted before. The key's ``code_version`` makes an edit of the code that builds or counts a
    network a new key; an unreadable or damaged file is counted again and written anew; two writers at once lose
    at most each other's new counts (``save`` merges, then renames atomically).
    """

    def __init__(self, store: Callable[[], Path] | None = None):
        self._counts: dict[str, dict[str, int]] = {}
        self._stored: set[str] = set()  # keys the store held when read
        self.store, self._read = store, store is None
        self.builds = 0  # networks built: what the cache saves is visible (tests, profiling)

    @torch.no_grad()
    def count(self, key: str, build: Callable[[], nn.Module], what: str, image_size: int, in_chans: int = 3) -> int:
        """``params``, ``flops`` or ``macs`` (FLOPs / 2) of the network ``key`` names, which ``build`` builds."""
        self._read_store()
        if key not in self._counts:
            with one_thread(), torch.random.fork_rng(devices=[]):  # a run's seeded stream is left as it was
                model = build()
                self._counts[key] = {"params": count_params(model), "flops": _count_flops(model, image_size, in_chans)}
            self.builds += 1
        counts = self._counts[key]
        return counts["flops"] // 2 if what == "macs" else counts[what]

    def known(self) -> set[str]:
        return set(self._counts)

    def since(self, known: set[str]) -> dict[str, dict[str, int]]:
        """The counts taken after ``known`` (``known()``): what a worker process hands back (``add``)."""
        return {key: counts for key, counts in self._counts.items() if key not in known}

    def add(self, counts: dict[str, dict[str, int]]) -> None:
        """Counts another process took (shapes alone decide them, so any process's count is this one's)."""
        for key, value in counts.items():
            if _is_count(value):
                self._counts.setdefault(key, value)

    def _read_store(self) -> None:
        if self._read:
            return
        self._read = True
        stored = _read_counts(self.store())
        self.add(stored)
        self._stored = set(stored)

    def save(self) -> None:
        """Write the counts taken here into the store, merged with what it holds now; a cache, so a failure to
        write (read-only, disk full) only means counting again next time."""
        if self.store is None or not set(self._counts) - self._stored:
            return
        path = self.store()
        merged = {**_read_counts(path), **self._counts}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(merged, sort_keys=True))
        except OSError:  # WriteError is one: the cache stays as it was
            return
        self._stored = set(merged)


def _is_count(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(k), int) and value[k] >= 0 for k in ("params", "flops"))


def _read_counts(path: Path) -> dict[str, dict[str, int]]:
    """The store's valid entries; {} for a missing, unreadable or damaged file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and _is_count(v)} if isinstance(data, dict) else {}


@functools.cache
def code_version(cls: type) -> str:
    """What a count depends on besides the network's shape: torch (the counting formulas), this package's model
    code and the family's own folder (its module and its siblings), as a short hash."""
    own = Path(inspect.getsourcefile(cls)).parent
    digest = hashlib.sha256(torch.__version__.encode())
    for path in sorted({*Path(__file__).parent.glob("*.py"), *own.glob("*.py")}):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def one_thread():
    """One torch thread inside: a batch-1 forward gains nothing from more, which only spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


COSTS = NetworkCosts(cost_store)  # the process's one cache, kept between processes in the user's cache folder
