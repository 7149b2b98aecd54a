"""Observed figures: a run, a metric key and an aggregation in, the value a check compares out.

Samples and slice figures come from the run's sample source (``harness.stats.sources``: its
records in memory, or its files for a run too large for that). Trends are aggregated from
their per-attempt samples when the source has them (exactly as ``harness.metrics.percentiles``
does, so ``p(99)`` equals the summary's ``p99``), else from the summary's stats object when it
carries that aggregation. Ratios, counters and values are the (possibly recomputed, see
``harness.stats.slices``) summary figure. Each observation also says how many samples it rests
on and keeps the samples a noise check can resample: per attempt for trends, per sent request
for ``error_rate``, ``cost_per_1k_requests_usd`` and ``retry_amplification`` (whose mean is
the figure, ``harness.stats.request_samples``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from harness.gates.budget import MetricKey
from harness.gates.catalog import COUNTER, TREND, MetricInfo
from harness.gates.soak_metrics import SOAK_VALUES, soak_figure
from harness.metrics.percentiles import quantile
from harness.stats.columns import Samples
from harness.stats.run_data import RunData
from harness.stats.slices import SliceError
from harness.stats.sources import source_of

#: Aggregation -> key of a summary stats object, for runs whose records are not available.
_SUMMARY_STAT = {"avg": "mean", "med": "p50", "max": "max", "count": "count"}
_SUMMARY_PERCENTILE = {50.0: "p50", 90.0: "p90", 95.0: "p95", 99.0: "p99", 99.9: "p999"}
#: Figures that are not trends but have per-request samples to resample.
PER_REQUEST_SAMPLED = ("error_rate", "cost_per_1k_requests_usd", "retry_amplification")


@dataclass(frozen=True, slots=True)
class Observation:
    value: float | None
    #: Samples the figure rests on (attempts for trends, sent requests otherwise).
    count: int | None
    samples: Samples | None = None
    reason: str | None = None


def aggregate(
    values: Sequence[float] | NDArray[np.float64], agg: str, percentile: float | None
) -> float | None:
    """One aggregation of samples (None without samples, except ``count``)."""
    if agg == "count":
        return float(len(values))
    if len(values) == 0:
        return None
    if agg == "p":
        return quantile(values, (percentile or 0.0) / 100.0)
    if agg == "med":
        return quantile(values, 0.5)
    array = np.asarray(values, dtype=np.float64)
    if agg == "min":
        return float(array.min())
    if agg == "max":
        return float(array.max())
    return float(array.mean())


def _from_summary_stats(
    stats: object, agg: str, percentile: float | None, missing: str, no_samples: str
) -> Observation:
    if not isinstance(stats, Mapping):
        return Observation(None, None, reason=missing)
    key = _SUMMARY_PERCENTILE.get(percentile or -1.0) if agg == "p" else _SUMMARY_STAT.get(agg)
    count = stats.get("count")
    count_n = int(count) if isinstance(count, int | float) else None
    if key is None:
        return Observation(None, count_n, reason=no_samples)
    value = stats.get(key)
    return Observation(
        float(value) if isinstance(value, int | float) else None,
        count_n,
        reason=None if value is not None else "no samples",
    )


def observe(
    run: RunData, key: MetricKey, info: MetricInfo, agg: str, percentile: float | None
) -> Observation:
    """The figure ``agg`` of metric ``key`` in ``run`` (value None with a reason if unknown)."""
    if info.name in SOAK_VALUES:
        if key.filters:
            return Observation(None, None, reason=f"{info.name} is a whole-run figure: no tags")
        value, reason = soak_figure(run.summary, info.name)
        return Observation(value, None, reason=reason)
    source = source_of(run)
    try:
        if info.kind == TREND:
            samples = source.samples(info.name, key.filters)
            if samples is not None:
                value = aggregate(samples.values, agg, percentile)
                reason = None if value is not None else "no samples"
                return Observation(value, len(samples.values), samples, reason=reason)
        figures = source.figures(key.filters)
        sampled = info.name in PER_REQUEST_SAMPLED
        samples = source.samples(info.name, key.filters) if sampled else None
    except SliceError as exc:
        return Observation(None, None, reason=str(exc))
    raw = figures.summary.get(info.name)
    missing = figures.missing or f"{info.name} is null in the summary (see its notes)"
    if info.kind == TREND:
        absent = figures.missing or f"the summary has no {info.name}"
        return _from_summary_stats(raw, agg, percentile, absent, source.no_samples(info.name))
    sent = figures.summary.get("requests_sent")
    count = int(sent) if isinstance(sent, int | float) else None
    if info.kind == COUNTER and raw is not None and agg in ("count", "value"):
        return Observation(float(raw), count)
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        return Observation(None, count, samples, reason=missing)
    return Observation(float(raw), count, samples)
