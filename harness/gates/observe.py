"""Observed figures: a run, a metric key and an aggregation in, the value a check compares out.

Trends are aggregated from their per-attempt samples when the records are there (exactly
as ``harness.metrics.percentiles`` does, so ``p(99)`` equals the summary's ``p99``), else from
the summary's stats object when it carries that aggregation. Ratios, counters and values are
the (possibly recomputed, see ``harness.stats.slices``) summary figure. Each observation also
says how many samples it rests on and keeps the samples a noise check can resample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.gates.budget import MetricKey
from harness.gates.catalog import COUNTER, TREND, MetricInfo
from harness.gates.soak_metrics import SOAK_VALUES, soak_figure
from harness.metrics.percentiles import quantile
from harness.stats.run_data import RunData
from harness.stats.slices import Samples, SliceError, request_failures, select, trend_samples

#: Aggregation -> key of a summary stats object, for runs whose records are not available.
_SUMMARY_STAT = {"avg": "mean", "med": "p50", "max": "max", "count": "count"}
_SUMMARY_PERCENTILE = {50.0: "p50", 90.0: "p90", 95.0: "p95", 99.0: "p99", 99.9: "p999"}


@dataclass(frozen=True, slots=True)
class Observation:
    value: float | None
    #: Samples the figure rests on (attempts for trends, sent requests otherwise).
    count: int | None
    samples: Samples | None = None
    reason: str | None = None


def aggregate(values: Sequence[float], agg: str, percentile: float | None) -> float | None:
    """One aggregation of samples (None without samples, except ``count``)."""
    if agg == "count":
        return float(len(values))
    if not values:
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
    stats: object, agg: str, percentile: float | None, name: str
) -> Observation:
    if not isinstance(stats, Mapping):
        return Observation(None, None, reason=f"the summary has no {name}")
    key = _SUMMARY_PERCENTILE.get(percentile or -1.0) if agg == "p" else _SUMMARY_STAT.get(agg)
    count = stats.get("count")
    count_n = int(count) if isinstance(count, int | float) else None
    if key is None:
        return Observation(
            None,
            count_n,
            reason="needs records.jsonl (the summary does not carry this aggregation)",
        )
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
    try:
        sliced = select(run, key.filters)
    except SliceError as exc:
        return Observation(None, None, reason=str(exc))
    if info.kind == TREND:
        samples = trend_samples(sliced, info.name)
        if samples is None:
            return _from_summary_stats(sliced.summary.get(info.name), agg, percentile, info.name)
        value = aggregate(samples.values, agg, percentile)
        return Observation(
            value, len(samples.values), samples, reason=None if value is not None else "no samples"
        )
    raw = sliced.summary.get(info.name)
    sent = sliced.summary.get("requests_sent")
    count = int(sent) if isinstance(sent, int | float) else None
    if info.kind == COUNTER and raw is not None and agg in ("count", "value"):
        return Observation(float(raw), count)
    samples = request_failures(sliced) if info.name == "error_rate" else None
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        return Observation(
            None, count, samples, reason=f"{info.name} is null in the summary (see its notes)"
        )
    return Observation(float(raw), count, samples)
