"""Chart data: attempt records in, binned time series and CDF points (numpy arrays) out.

Time on the x axis is the attempt's send time on the run clock (its intended time when it
was never sent). Bins are 1 s wide for runs up to ``MAX_BINS`` seconds and widen for longer
runs so that a soak test still draws a readable chart of bounded size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from harness.contract.records import AttemptRecord
from harness.metrics import latency as lat

MAX_BINS = 300
MAX_CDF_POINTS = 400

FloatArray = NDArray[np.float64]


def event_time_s(record: AttemptRecord) -> float:
    return record.sent_s if record.sent_s is not None else record.scheduled_s


def bin_width_s(span_s: float, max_bins: int = MAX_BINS) -> float:
    """1 s, or the smallest whole number of seconds that keeps the bin count bounded."""
    if span_s <= max_bins:
        return 1.0
    return float(math.ceil(span_s / max_bins))


@dataclass(frozen=True, slots=True)
class Binned:
    """Per-bin values of one series; ``starts_s`` are the left edges of non-empty bins."""

    starts_s: FloatArray
    values: dict[str, FloatArray]


def binned_quantiles(
    times_s: Sequence[float],
    values: Sequence[float],
    width_s: float,
    quantiles: Sequence[tuple[str, float]],
) -> Binned:
    """Exact quantiles (linear interpolation) of ``values`` in each time bin."""
    if not times_s:
        return Binned(np.empty(0), {name: np.empty(0) for name, _ in quantiles})
    index = np.floor(np.asarray(times_s, dtype=np.float64) / width_s).astype(np.int64)
    data = np.asarray(values, dtype=np.float64)
    bins = np.unique(index)
    series: dict[str, list[float]] = {name: [] for name, _ in quantiles}
    for bin_index in bins:
        chunk = data[index == bin_index]
        for name, q in quantiles:
            series[name].append(float(np.quantile(chunk, q)) if q < 1 else float(chunk.max()))
    return Binned(
        bins.astype(np.float64) * width_s,
        {name: np.asarray(v, dtype=np.float64) for name, v in series.items()},
    )


def binned_counts(times_s: Sequence[float], labels: Sequence[str], width_s: float) -> Binned:
    """Count of each label per time bin, over every bin from the first to the last."""
    if not times_s:
        return Binned(np.empty(0), {})
    index = np.floor(np.asarray(times_s, dtype=np.float64) / width_s).astype(np.int64)
    first, last = int(index.min()), int(index.max())
    size = last - first + 1
    counts: dict[str, FloatArray] = {}
    for label in sorted(set(labels)):
        mask = np.asarray([lab == label for lab in labels])
        counts[label] = np.bincount(index[mask] - first, minlength=size).astype(np.float64)
    starts = (np.arange(size, dtype=np.float64) + first) * width_s
    return Binned(starts, counts)


def cdf_points(
    values: Sequence[float], max_points: int = MAX_CDF_POINTS
) -> tuple[FloatArray, FloatArray]:
    """Sorted values and their cumulative share, thinned to at most ``max_points``."""
    data = np.sort(np.asarray(values, dtype=np.float64))
    if data.size == 0:
        return data, data
    shares = np.arange(1, data.size + 1, dtype=np.float64) / data.size
    if data.size > max_points:
        keep = np.unique(np.linspace(0, data.size - 1, max_points).round().astype(np.int64))
        data, shares = data[keep], shares[keep]
    return data, shares


def samples_ms(
    records: Sequence[AttemptRecord],
    metric: Callable[[AttemptRecord], float | None],
    only_ok: bool = True,
) -> tuple[list[float], list[float]]:
    """``(send times s, metric values ms)`` of the attempts where the metric exists."""
    times: list[float] = []
    values: list[float] = []
    for record in records:
        if only_ok and not lat.is_ok(record):
            continue
        value = metric(record)
        if value is not None:
            times.append(event_time_s(record))
            values.append(value * 1000.0)
    return times, values


def span_s(records: Sequence[AttemptRecord]) -> float:
    if not records:
        return 0.0
    times = [event_time_s(r) for r in records]
    return max(times) - min(times)
