"""A bootstrap over seeds and test images: an interval for a difference of arms that includes the test set's luck.

Welch's interval over seeds treats the 10,000 test images as fixed, but a claim about CIFAR-10 is a claim about
the images the test set was drawn from: with accuracies near 93% the test set alone adds about 0.25 pt of
sampling error to each arm. The interval here resamples both sources of chance at once, as they occur:

- the seeds of each arm, with replacement, each arm on its own (different initializations);
- the test images, with replacement, *one draw shared* by both arms and every seed, since every run was tested
  on the same images (a crossed design: image difficulty is common to all runs, so it largely cancels in a
  difference, as it does in the paired comparison of two networks).

A replicate's difference is then the mean over resampled seeds of each run's accuracy on the resampled images,
variant minus reference; the interval is the 2.5th to 97.5th percentile of ``REPS`` replicates. Resampling the
images multinomially is exact and cheap on *patterns*: each image is a column of 0/1 (correct or not) across the
runs, at most a few hundred distinct columns, so one replicate draws pattern counts instead of 10,000 indices.

With few seeds the seed level can only reuse the seeds observed (3 seeds give 10 distinct resamples): its spread
understates seed-to-seed variation by a factor of about sqrt((n-1)/n), and it has no t quantile. Read it beside
Welch's t interval: the two differ mostly by what the test images add.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REPS = 4000      # replicates: the percentiles' Monte Carlo error is ~0.01 pt for CIFAR-10 arms
SEED = 20200     # a fixed stream: a report built twice prints the same intervals
CHUNK = 500      # replicates drawn at once (memory: CHUNK x patterns)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    se: float        # the replicates' standard deviation
    reps: int


def patterns(units: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct columns of the units' correctness (units x patterns) and how many images show each."""
    stacked = np.vstack([np.asarray(u, dtype=float) for u in units])
    columns, counts = np.unique(stacked, axis=1, return_counts=True)
    return columns, counts


def difference(a: list[np.ndarray], b: list[np.ndarray], reps: int = REPS, level: float = 0.95,
               seed: int = SEED) -> Interval:
    """Percentile interval (percentage points) of mean accuracy ``a`` minus ``b`` over seeds and test images.

    ``a`` and ``b`` hold one vector per seed: 1.0/0.0 per test image (or the mean of a seed's repeated runs),
    every vector over the same images in the same order.
    """
    m, k = len(a), len(b)
    if not m or not k:
        raise ValueError("each arm needs at least one seed")
    columns, counts = patterns([*a, *b])
    n_images = int(counts.sum())
    rng = np.random.default_rng(seed)
    out = np.empty(reps)
    for start in range(0, reps, CHUNK):
        size = min(CHUNK, reps - start)
        drawn = rng.multinomial(n_images, counts / n_images, size=size)    # images per pattern, per replicate
        acc = drawn @ columns.T / n_images                                  # replicate x unit accuracy
        pick_a = rng.integers(0, m, size=(size, m))
        pick_b = rng.integers(0, k, size=(size, k)) + m
        rows = np.arange(size)[:, None]
        out[start:start + size] = 100 * (acc[rows, pick_a].mean(1) - acc[rows, pick_b].mean(1))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(out, [tail, 100 - tail])
    return Interval(float(low), float(high), float(out.std(ddof=1)), reps)
