"""Power, planned before the money is spent: what the preset's primary comparisons can detect with its seeds.

A preset declares its primary family (``plan.primary``: ``model:variant`` comparisons with that model's ``full``
arm, and ``equal_budget``, the ranking of the families at each of ``plan.budgets``); the report runs Holm's
adjustment over that family alone and calls every other comparison exploratory. Here each primary comparison
gets, for Welch's two-sided test over seeds at ``ALPHA`` / m (m: the family's size, Holm's strictest step) and
``POWER`` (simulated, ``power``):

- the **minimum detectable difference** with the seeds the grid gives each arm, and
- the **seeds per arm** that ``plan.target_delta`` needs,

from the seed-to-seed standard deviation of test accuracy: pooled over the finished runs of the same arms where
they give at least two degrees of freedom, else the stated prior ``plan.sigma``. For a sense of scale: with 3
seeds and Holm over 25 comparisons the detectable difference is about 11.5 sigma; 0.3 pt with sigma 0.2 pt needs
9 seeds per arm as a single test, 17 over 25.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from scipy.special import stdtrit  # Student's t quantile: what stats.t.ppf calls, without scipy.stats's 1 s import

from jumpnet.config.schema import primary_family
from jumpnet.models.matching import TOLERANCE
from jumpnet.run.folder import RecordUnreadable, read_metrics
from jumpnet.sweep.arms import Arm

ALPHA = 0.05
POWER = 0.8
SIMS = 20_000     # simulated experiments per seed count: power within about +-0.003
MAX_SEEDS = 100


def welch_draws(n_a: int, n_b: int, alpha: float, sims: int = SIMS) -> tuple[np.ndarray, np.ndarray]:
    """Simulated experiments of ``n_a`` vs ``n_b`` seeds (unit standard deviation, no difference): each one's
    difference of means and the |difference| beyond which Welch's test rejects at ``alpha`` (its own df)."""
    rng = np.random.default_rng(n_a * 1000 + n_b)  # fixed per design: the plan prints the same figures every time
    a, b = rng.standard_normal((sims, n_a)), rng.standard_normal((sims, n_b))
    va, vb = a.var(axis=1, ddof=1) / n_a, b.var(axis=1, ddof=1) / n_b
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    return b.mean(axis=1) - a.mean(axis=1), stdtrit(df, 1 - alpha / 2) * np.sqrt(va + vb)


def power(delta: float, sigma: float, n_a: int, n_b: int, alpha: float) -> float:
    """The probability that Welch's two-sided test at ``alpha`` rejects when the true difference is ``delta`` and
    each run's standard deviation ``sigma`` (simulated: its degrees of freedom vary with the sample variances,
    which costs power with few seeds: 3 vs 3 at alpha 0.002 detects 11.5 sigma, where a pooled t-test claims 7.3)."""
    if n_a < 2 or n_b < 2:
        return 0.0
    diff, bound = welch_draws(n_a, n_b, alpha)
    return float(np.mean(np.abs(diff + delta / sigma) > bound))


def detectable(sigma: float, n_a: int, n_b: int, alpha: float, target: float = POWER) -> float:
    """The minimum difference detected with probability ``target`` (inf under two seeds per arm)."""
    if n_a < 2 or n_b < 2:
        return math.inf
    diff, bound = welch_draws(n_a, n_b, alpha)
    low, high = 0.0, 1.0
    while np.mean(np.abs(diff + high) > bound) < target:
        high *= 2
    for _ in range(50):  # bisect the simulated power curve (in units of sigma)
        mid = (low + high) / 2
        low, high = (mid, high) if np.mean(np.abs(diff + mid) > bound) < target else (low, mid)
    return high * sigma


def seeds_needed(delta: float, sigma: float, alpha: float, target: float = POWER) -> int | None:
    """The fewest seeds per arm (equal arms) that detect ``delta`` with probability ``target``."""
    return next((n for n in range(2, MAX_SEEDS + 1) if power(delta, sigma, n, n, alpha) >= target), None)


@dataclass
class Comparison:
    """One test of the primary family: its arms' runs in this grid."""

    name: str
    a: list[Path]
    b: list[Path]


def finished_accuracies(run_dirs: list[Path]) -> list[float]:
    """Test accuracy (percent) of each completed run among ``run_dirs``."""
    found = []
    for run_dir in run_dirs:
        try:
            record = read_metrics(run_dir) or {}
        except RecordUnreadable:
            continue
        if record.get("status") == "completed" and isinstance(record.get("test_acc"), (int, float)):
            found.append(100.0 * float(record["test_acc"]))
    return found


def seed_sigma(groups: list[list[Path]], prior: float) -> tuple[float, str]:
    """The pooled seed-to-seed standard deviation of the groups' finished runs, or the prior, and its source."""
    samples = [finished_accuracies(g) for g in groups]
    df = sum(len(s) - 1 for s in samples if len(s) > 1)
    if df < 2:
        found = sum(map(len, samples))
        return prior, "prior plan.sigma: " + (f"{found} finished runs give under 2 df" if found else "no run finished")
    ss = sum(sum((x - sum(s) / len(s)) ** 2 for x in s) for s in samples if len(s) > 1)
    return math.sqrt(ss / df), f"pooled over {sum(map(len, samples))} finished runs, {df} df"


def arm_groups(runs: list[Arm]) -> dict[tuple, list[Path]]:
    """The grid's runs by arm (override level, model, ablation label): each arm's seeds."""
    groups: dict[tuple, list[Path]] = defaultdict(list)
    for arm in runs:
        groups[(arm.run_dir.parent, arm.cfg.model.name, arm.spec.label)].append(arm.run_dir)
    return groups


def comparisons(runs: list[Arm], pairs: list[tuple[str, str]]) -> tuple[list[Comparison], int]:
    """The primary ``model:variant`` comparisons in the grid, and how many other variant-vs-full comparisons it has
    (exploratory)."""
    groups = arm_groups(runs)
    primary, others = [], 0
    found = [(level, model, label, dirs) for (level, model, label), dirs in groups.items()
             if label != "full" and (level, model, "full") in groups]
    levels = {level for level, model, label, _ in found if (model, label) in pairs}
    for level, model, label, dirs in found:
        if (model, label) in pairs:  # the override level is named only where the grid has several
            where = f" [{level.name}]" if len(levels) > 1 else ""
            primary.append(Comparison(f"{model} {label} vs full{where}", dirs, groups[(level, model, "full")]))
        else:
            others += 1
    return primary, others


def at_budgets(runs: list[Arm], budgets: list[float]) -> dict[float, list[list[Path]]]:
    """The ``full`` arms of the grid built at each budget (parameters within the matcher's tolerance): each
    family's seeds there."""
    found: dict[float, list[list[Path]]] = {b: [] for b in budgets}
    first: dict[tuple, Arm] = {}
    for arm in runs:
        first.setdefault((arm.run_dir.parent, arm.cfg.model.name, arm.spec.label), arm)
    groups = arm_groups(runs)
    for key, arm in first.items():
        if key[2] != "full":
            continue
        params = arm.spec.model.costs("params")
        for target in budgets:
            if abs(params / target - 1) <= TOLERANCE:
                found[target].append(groups[key])
    return found


def power_lines(master: DictConfig, runs: list[Arm]) -> list[str]:
    """``make plan``'s power section for the preset's primary family (nothing when it declares none)."""
    plan = master.get("plan") or OmegaConf.create({})
    pairs, ranking = primary_family(plan.get("primary"))
    if not (pairs or ranking) or not runs:
        return []
    target, prior = float(plan.get("target_delta", 0.3)), float(plan.get("sigma", 0.2))
    tests, others = comparisons(runs, pairs)
    sigma_groups: dict[str, list[list[Path]]] = {t.name: [t.a, t.b] for t in tests}
    if ranking:
        ranked = {b: arms for b, arms in at_budgets(runs, [float(b) for b in plan.get("budgets") or []]).items()
                  if len(arms) >= 2}
        pooled = [g for arms in ranked.values() for g in arms]
        for b, arms in ranked.items():
            seeds = sorted(map(len, arms))
            name = f"equal-budget ranking at {b:,.0f} params ({len(arms)} families; the best vs the runner-up)"
            tests.append(Comparison(name, arms[0][:seeds[0]], arms[0][:seeds[1]]))
            sigma_groups[name] = pooled
    if not tests:
        return [f"Power: the primary family ({', '.join(map(str, plan.primary))}) has no comparison in this grid."]
    m, alpha = len(tests), ALPHA / len(tests)
    lines = [f"Power of the primary family (plan.primary: {', '.join(map(str, plan.primary))}): {m} tests, Holm's "
             f"strictest step alpha = {ALPHA}/{m} = {alpha:.4g}, {POWER:.0%} power, two-sided Welch t-test over "
             f"seeds; target difference plan.target_delta = {target:g} pt."]
    for test in tests:
        sigma, source = seed_sigma(sigma_groups[test.name], prior)
        mdd = detectable(sigma, len(test.a), len(test.b), alpha)
        need = seeds_needed(target, sigma, alpha)
        lines.append(f"  {test.name}: {len(test.a)} vs {len(test.b)} seeds, sigma {sigma:.2f} pt ({source}): "
                     f"detects {mdd:.2f} pt; {target:g} pt needs "
                     + (f"{need} seeds per arm" if need else f"over {MAX_SEEDS} seeds per arm") + ".")
    lines.append(f"Exploratory (intervals and raw p, no stars): the other {others} variant-vs-full comparisons.")
    return lines
