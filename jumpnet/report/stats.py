"""The tests behind the tables: Welch's and the paired t-test, intervals, and Holm's adjustment.

Accuracies are in percent and differences in percentage points. Welch's
unequal-variance t-test is the primary comparison of two arms: different
architectures start from different initializations even under the same seed.
Runs with the same seed do share the split and the batch order, so where both
arms ran the same seeds a paired t-test across seeds is shown beside it.
Where a test has nothing to work with (fewer than two runs, or no variance at
all, where scipy would report p = 0 and a zero-width interval) the result is
NaN, printed as a dash, never a spurious certainty. "No variance" is judged at
``RESOLUTION``, not bit for bit: an accuracy is correct/n x 100, so a constant
gap of 10 images gives differences of -0.1000000000000085 and -0.0999999999999943,
which scipy would turn into p = 2e-27. The paired test therefore runs on integer
correct counts where they are known, and rounds percentages otherwise.
A family of p-values is adjusted by Holm's step-down method.

Where an arm has a single seed, McNemar's exact test compares two trained
networks on the same test images (it says nothing of seed-to-seed variation);
the divergence rate of an arm gets a Clopper-Pearson interval.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
ALPHA = 0.05
NAN = float("nan")
RESOLUTION = 9  # decimals: values that agree to 1e-9 pp are equal (one image of 10^11 is 1e-9 pp)


def constant(values: np.ndarray) -> bool:
    """Whether the values do not vary, float noise aside (see ``RESOLUTION``)."""
    return bool(np.ptp(np.round(np.asarray(values, dtype=float), RESOLUTION)) == 0) if len(values) else True


@dataclass(frozen=True)
class Comparison:
    """``a - b``: the difference of means, its Welch interval and p-value, and the paired p-value."""

    diff: float = NAN
    low: float = NAN
    high: float = NAN
    p: float = NAN
    p_paired: float = NAN
    n_pairs: int = 0


def mean_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The t interval of a mean; NaN with fewer than two values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return NAN, NAN
    mean, sem = float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * sem
    return mean - half, mean + half


def welch(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> tuple[float, float, float, float]:
    """Difference of means ``a - b``, its interval and two-sided p-value; NaN for n < 2 or no variance at all."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else NAN
    if len(a) < 2 or len(b) < 2 or (constant(a) and constant(b)):
        return diff, NAN, NAN, NAN
    with warnings.catch_warnings():  # one constant arm: scipy warns of precision loss, the test is still valid
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
        low, high = result.confidence_interval(level)
    return diff, float(low), float(high), float(result.pvalue)


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[float, int]:
    """Paired t-test over the seeds both arms completed (p, pairs); NaN under two pairs or identical differences.

    Pass integer correct counts (on one test split) where they are known: their differences are exact. The test
    is the same on any scale, so its p-value is the one on accuracies.
    """
    seeds = sorted(set(a) & set(b))
    diffs = np.array([a[s] - b[s] for s in seeds], dtype=float)
    if len(diffs) < 2 or constant(diffs):
        return NAN, len(diffs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_1samp(diffs, 0.0).pvalue), len(diffs)


def compare(a: dict[int, float], b: dict[int, float], level: float = LEVEL,
            counts: tuple[dict[int, float], dict[int, float]] | None = None) -> Comparison:
    """Welch's test of arm ``a`` against ``b`` (accuracy by seed, one value per seed), and the paired test where
    they share seeds: on ``counts`` (correct images by seed) when given, else on the accuracies."""
    diff, low, high, p = welch(np.array(list(a.values())), np.array(list(b.values())), level)
    p_paired, pairs = paired(*(counts or (a, b)))
    return Comparison(diff, low, high, p, p_paired, pairs)


def mcnemar(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    """McNemar's exact test of two classifiers on the same images (correct: bool per image): (p, a only, b only).

    Under the null the discordant images split 50:50; the two-sided p is twice the smaller binomial tail, at most 1
    (statsmodels' ``mcnemar(exact=True)``).
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    return float(min(1.0, 2 * stats.binom.cdf(min(only_a, only_b), only_a + only_b, 0.5))), only_a, only_b


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a proportion k/n; NaN for n = 0."""
    if n == 0:
        return NAN, NAN
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    return low, high


def holm(pvalues: list[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment over the non-NaN p-values (NaN stays NaN): controls the family-wise error."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m, running = len(order), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def combined_interval(weights: list[float], means: list[float], stds: list[float], ns: list[int],
                      level: float = LEVEL) -> tuple[float, float, float, float, float]:
    """A weighted sum of independent means (linear interpolation): estimate, interval, standard error, df.

    The variance adds up as ``sum w^2 s^2 / n``; the degrees of freedom are Welch-Satterthwaite's. NaN where a
    weighted mean has under two runs or nothing varies.
    """
    estimate = float(sum(w * m for w, m in zip(weights, means)))
    parts = [(w * w * s * s / n, n) for w, s, n in zip(weights, stds, ns) if w > 0]
    if any(n < 2 or math.isnan(v) for v, n in parts) or sum(v for v, _ in parts) == 0:
        return estimate, NAN, NAN, NAN, NAN
    var = sum(v for v, _ in parts)
    df = var ** 2 / sum(v * v / (n - 1) for v, n in parts if v > 0)
    half = float(stats.t.ppf(0.5 + level / 2, df)) * math.sqrt(var)
    return estimate, estimate - half, estimate + half, math.sqrt(var), df


def welch_from_summary(m1: float, se1: float, df1: float, m2: float, se2: float, df2: float) -> float:
    """Two-sided p of ``m1 - m2`` from two estimates with standard errors and dfs (Welch-Satterthwaite)."""
    if any(math.isnan(v) for v in (se1, se2, df1, df2)) or se1 + se2 == 0:
        return NAN
    var = se1 ** 2 + se2 ** 2
    df = var ** 2 / (se1 ** 4 / df1 + se2 ** 4 / df2)
    return float(2 * stats.t.sf(abs(m1 - m2) / math.sqrt(var), df))
