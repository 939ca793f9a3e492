"""A sweep's slow preparation spread over the machine's cores: each job composed, checked and its networks
counted in forked worker processes, before the arms are classified in grid order.

``enumerate_arms`` walks the grid in order on one core: a new composition costs Hydra ~0.08 s, a new network (a
build and one counted image) ~0.05 s, and a job's copy and checks ~0.01 s; ``experiment=ablation`` has 60, 68
and 201 of them. ``prefetch`` does that work first, over up to ``MAX_WORKERS`` workers, one task per distinct
composition (its seeds with it, so a matched width is solved once per task), and hands back each job's config,
checked spec and folder, and every count (into ``cost.COSTS``). The walk then only names duplicates, so the arms
are the same with or without it (``tests/test_plan_fast.py``). A job whose composition or check fails in a
worker is composed or checked again by the walk, which classifies the error as it always did. Used by
``load_sweep`` (plan, status); fork only, where the platform has it, so the workers inherit the loaded Hydra.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from omegaconf import DictConfig

from jumpnet.models.cost import COSTS
from jumpnet.run.spec import RunSpec, resolve_run
from jumpnet.sweep.compose import SweepComposer, folder_of

MAX_WORKERS = 4          # a cap (measured only up to 2): the ablation grid has 60 compositions to share out
MIN_COMPOSITIONS = 8     # fewer distinct configs than this: not worth a worker's start

_composer: SweepComposer | None = None  # the parent's composer, inherited by the forked workers


@dataclass(frozen=True)
class Prepared:
    """One job as a worker left it: its config, its checked spec (None: the check failed) and its run folder."""

    cfg: DictConfig
    spec: RunSpec | None
    folder: str


def prefetch(jobs: Sequence[Sequence[str]], composer: SweepComposer,
             workers: int | None = None) -> dict[tuple, Prepared]:
    """The jobs prepared in worker processes, by their overrides; {} where workers are not worth it (fewer than
    ``MIN_COMPOSITIONS`` distinct configs, one core) or the platform cannot fork."""
    global _composer
    groups = composer.groups(jobs)
    workers = min(len(os.sched_getaffinity(0)), MAX_WORKERS) if workers is None else workers
    workers = min(workers, len(groups))
    if workers < 2 or len(groups) < MIN_COMPOSITIONS or "fork" not in multiprocessing.get_all_start_methods():
        return {}
    out: dict[tuple, Prepared] = {}
    _composer = composer
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for task in as_completed([pool.submit(_prepare, group) for group in groups]):
                done, counts = task.result()
                out.update(done)
                COSTS.add(counts)
    except BrokenProcessPool:  # a worker died (killed, out of memory): the walk prepares what it did not hand back
        pass
    finally:
        _composer = None
    return out


def _prepare(jobs: list[list[str]]) -> tuple[dict[tuple, Prepared], dict]:
    """In a worker: the jobs of one distinct composition, composed and checked, and the networks they counted."""
    known, solved, done = COSTS.known(), {}, {}
    for job in jobs:
        try:
            cfg = _composer(job)
        except Exception:  # noqa: BLE001 - the walk composes it again and reports the error
            continue
        try:
            spec = resolve_run(cfg, solved)
            spec.model.costs("flops")  # what the plan prices the arm by
        except Exception:  # noqa: BLE001 - the walk checks it again and classifies the error
            spec = None
        done[tuple(job)] = Prepared(cfg, spec, folder_of(cfg, " ".join(job)))
    return done, COSTS.since(known)
