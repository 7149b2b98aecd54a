"""Bootstrap intervals: two samples, a statistic and an RNG in, an interval and a bootstrap
p-value for their difference out.

Pure numpy, no clock: the caller passes a seeded ``numpy.random.Generator`` so a verdict is
reproducible. ``bootstrap_excess`` resamples both runs' per-sample values (per attempt for
latencies, per request for error rates) and gives an interval for
``stat(current) - (factor * stat(baseline) + offset)``; resamples are drawn in chunks so the
memory they hold stays bounded however many samples a run has.
"""

from __future__ import annotations

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
