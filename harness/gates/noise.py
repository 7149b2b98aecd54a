"""Is a difference real? Two samples and an RNG in, bootstrap intervals and a rank test out.

Pure numpy, no clock: the caller passes a seeded ``numpy.random.Generator`` so a verdict is
reproducible. ``bootstrap_excess`` resamples both runs' per-sample values (per attempt for
latencies, per request for error rates) and gives an interval for
``stat(current) - (factor * stat(baseline) + offset)``; ``mann_whitney`` is the two-sided
Mann-Whitney U test (normal approximation with tie correction), which asks whether one
run's values tend to be larger than the other's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Statistic = Callable[[NDArray[np.float64]], NDArray[np.float64]]

#: Upper bound on the resampled values held at once (rows x samples), to bound memory.
_CHUNK_CELLS = 2_000_000


def statistic_for(agg: str, percentile: float | None) -> Statistic | None:
    """The row-wise statistic of an aggregation (None for ``count``: nothing to resample)."""
    if agg == "p":
        q = (percentile or 0.0) / 100.0
        return lambda rows: np.quantile(rows, q, axis=1, method="linear")
    if agg == "med":
        return lambda rows: np.quantile(rows, 0.5, axis=1, method="linear")
    if agg in ("avg", "rate", "value"):
        return lambda rows: rows.mean(axis=1)
    if agg == "min":
        return lambda rows: rows.min(axis=1)
    if agg == "max":
        return lambda rows: rows.max(axis=1)
    return None


def _resampled(
    values: NDArray[np.float64], statistic: Statistic, resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    size = values.size
    chunk = max(1, _CHUNK_CELLS // max(size, 1))
    out: list[NDArray[np.float64]] = []
    done = 0
    while done < resamples:
        rows = min(chunk, resamples - done)
        picks = rng.integers(0, size, size=(rows, size))
        out.append(statistic(values[picks]))
        done += rows
    return np.concatenate(out)


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float
    low: float
    high: float
    confidence: float
    #: Two-sided bootstrap p-value of "the excess is zero": twice the smaller tail at 0.
    p_value: float = 1.0


def bootstrap_excess(
    current: Sequence[float],
    baseline: Sequence[float],
    statistic: Statistic,
    rng: np.random.Generator,
    *,
    factor: float = 1.0,
    offset: float = 0.0,
    confidence: float = 0.90,
    resamples: int = 1000,
) -> Interval:
    """Two-sided interval of ``stat(current) - (factor * stat(baseline) + offset)``.

    A 90 % two-sided interval gives a one-sided 95 % bound on each side.
    """
    cur = np.asarray(current, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    if cur.size == 0 or base.size == 0:
        raise ValueError("both samples must be non-empty")
    estimate = float(statistic(cur[None, :])[0] - (factor * statistic(base[None, :])[0] + offset))
    diffs = _resampled(cur, statistic, resamples, rng) - (
        factor * _resampled(base, statistic, resamples, rng) + offset
    )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    p_value = min(1.0, 2.0 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))))
    return Interval(estimate, float(low), float(high), confidence, p_value)


def _ranks(values: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Average ranks (ties share their mean rank) and the tie term ``sum(t^3 - t)``."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    boundaries = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [values.size]))
    ties = 0.0
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
        count = end - start
        ties += float(count**3 - count)
    return ranks, ties


@dataclass(frozen=True, slots=True)
class RankTest:
    u: float
    p_value: float
    #: P(a value of ``a`` > a value of ``b``) + half the ties: 0.5 means no tendency.
    effect: float


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> RankTest:
    """Two-sided Mann-Whitney U test of ``a`` against ``b`` (normal approximation)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples must be non-empty")
    ranks, ties = _ranks(np.concatenate((x, y)))
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    effect = u / (n1 * n2)
    if variance <= 0:
        return RankTest(u, 1.0, effect)
    # Continuity correction of 0.5 towards the mean.
    z = (abs(u - n1 * n2 / 2.0) - 0.5) / math.sqrt(variance)
    p_value = min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0)))
    return RankTest(u, p_value, effect)
