"""Rank significance: two samples in, the two-sided Mann-Whitney U test's statistic, p-value and
effect size out.

The p-value is the normal approximation with the tie-corrected variance and a continuity
correction of 0.5 towards the mean, which is what ``scipy.stats.mannwhitneyu(a, b,
alternative="two-sided", method="asymptotic", use_continuity=True)`` computes (the tests
cross-check it). Pure numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


def average_ranks(values: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """1-based ranks, ties sharing their mean rank, and the tie term ``sum(t^3 - t)``."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    starts = np.flatnonzero(first)
    ends = np.concatenate((starts[1:], [values.size]))
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = ((starts + ends + 1) / 2.0)[np.cumsum(first) - 1]
    counts = (ends - starts).astype(np.float64)
    return ranks, float(np.sum(counts**3 - counts))


@dataclass(frozen=True, slots=True)
class RankTest:
    u: float
    p_value: float
    #: P(a value of ``a`` > a value of ``b``) + half the ties: 0.5 means no tendency.
    effect: float


def mann_whitney(
    a: Sequence[float] | NDArray[np.float64], b: Sequence[float] | NDArray[np.float64]
) -> RankTest:
    """Two-sided Mann-Whitney U test of ``a`` against ``b`` (normal approximation)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples must be non-empty")
    ranks, ties = average_ranks(np.concatenate((x, y)))
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
