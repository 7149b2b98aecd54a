"""Percentile summaries: a list of samples in seconds in, a JSON-ready ``*_ms`` object out.

Percentiles are exact over the recorded samples of one run, computed by numpy with linear
interpolation between the two nearest ranks (numpy's default ``"linear"`` method, type 7 of
Hyndman & Fan). Interpolation never leaves the range of the samples, and the result is
clamped to the maximum anyway so that rounding can never show a p99 above the max. Samples
are never averaged across percentiles or shards.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Quantile name -> quantile, in the order they appear in summary.json.
QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
)
STAT_KEYS: tuple[str, ...] = (*(name for name, _ in QUANTILES), "max", "mean", "count")


def empty_stats() -> dict[str, Any]:
    """The stats object of a metric without samples: every figure null, count 0."""
    stats: dict[str, Any] = dict.fromkeys(STAT_KEYS)
    stats["count"] = 0
    return stats


def stats(values: Sequence[float] | Iterable[float], scale: float = 1.0) -> dict[str, Any]:
    """``p50 p90 p95 p99 p999 max mean count`` of ``values`` multiplied by ``scale``.

    Non-finite samples are dropped. Use ``scale=1000`` to turn seconds into milliseconds.
    """
    # An array is taken as it is (a list of its items would cost 40 bytes a sample).
    samples = values if isinstance(values, np.ndarray) else list(values)
    array = np.asarray(samples, dtype=np.float64)
    array = array[np.isfinite(array)] * scale
    if array.size == 0:
        return empty_stats()
    top = float(array.max())
    quantiles = np.quantile(array, [q for _, q in QUANTILES], method="linear")
    result: dict[str, Any] = {
        name: min(float(value), top) for (name, _), value in zip(QUANTILES, quantiles, strict=True)
    }
    result["max"] = top
    # Summation rounding must not push the mean outside the samples' range either.
    result["mean"] = min(max(float(array.mean()), float(array.min())), top)
    result["count"] = int(array.size)
    return result


def stats_ms(values_s: Iterable[float]) -> dict[str, Any]:
    """``stats`` of durations given in seconds, reported in milliseconds."""
    return stats(list(values_s), scale=1000.0)


def quantile(values: Sequence[float] | np.ndarray[Any, Any], q: float) -> float | None:
    """One exact quantile (linear interpolation), or None without samples."""
    if len(values) == 0:
        return None
    array = np.asarray(values, dtype=np.float64)
    return min(float(np.quantile(array, q, method="linear")), float(array.max()))


def stats_from_counts(
    values: np.ndarray[Any, Any], counts: np.ndarray[Any, Any], scale: float = 1.0
) -> dict[str, Any]:
    """``stats`` of the samples ``values`` repeated ``counts`` times, without repeating them:
    the same ranks and the same linear interpolation as numpy's, so a run's billions of
    inter-token gaps, kept as counts of distinct microsecond values, give exact percentiles
    (equal to ``stats`` on the expanded samples up to float rounding, about 1e-15)."""
    keep = (counts > 0) & np.isfinite(values)
    order = np.argsort(values[keep], kind="stable")
    sorted_values = values[keep][order].astype(np.float64) * scale
    cumulative = np.cumsum(counts[keep][order].astype(np.int64))
    if cumulative.size == 0:
        return empty_stats()
    total = int(cumulative[-1])
    top = float(sorted_values[-1])

    def at_rank(rank: int) -> float:
        return float(sorted_values[np.searchsorted(cumulative, rank, side="right")])

    result: dict[str, Any] = {}
    for name, q in QUANTILES:
        position = q * (total - 1)
        low = int(np.floor(position))
        fraction = position - low
        below, above = at_rank(low), at_rank(min(low + 1, total - 1))
        if fraction >= 0.5:
            value = above - (above - below) * (1 - fraction)
        else:
            value = below + (above - below) * fraction
        result[name] = min(value, top)
    weights = counts[keep][order].astype(np.float64)
    mean = float(np.dot(sorted_values, weights) / total)
    result["max"] = top
    result["mean"] = min(max(mean, float(sorted_values[0])), top)
    result["count"] = total
    return result
