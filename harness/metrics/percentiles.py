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
    array = np.asarray(list(values), dtype=np.float64)
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


def quantile(values: Sequence[float], q: float) -> float | None:
    """One exact quantile (linear interpolation), or None without samples."""
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return min(float(np.quantile(array, q, method="linear")), float(array.max()))
