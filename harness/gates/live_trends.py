"""Live latency figures for abort-on-fail: attempt records in as the run writes them, each
``abort_on_fail`` latency check's current figure (and sample count) out.

One bounded ``LogHistogram`` per distinct metric key (name and tag filters) that an abort
check names, fed from ``harness.stats.trends`` exactly as the end-of-run figures are. A filter
is applied to each attempt's own tags: for the latencies of answered attempts (``ttft_ms``,
``e2e_ms``, ``itl_ms`` ...) that attempt is its request's final one, so ``outcome``, ``fault``,
``model`` and ``deployment`` mean what they mean in ``harness.stats.slices``. Memory stays
bounded however long the run (see the histogram); figures are within its relative accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.contract.records import AttemptRecord
from harness.gates.budget import Check, MetricKey
from harness.metrics.requests import UNKNOWN
from harness.stats.histogram import LogHistogram
from harness.stats.slices import TagFilter
from harness.stats.trends import NO_FAULT, NO_TAG, attempt_samples

_Series = tuple[str, tuple[TagFilter, ...]]


def record_tag(record: AttemptRecord, tag: str) -> str:
    """The value of ``tag`` for one attempt (as ``slices.request_tag`` has it for its request)."""
    if tag == "model":
        return record.model or UNKNOWN
    if tag == "deployment":
        return record.deployment or UNKNOWN
    if tag == "outcome":
        return record.outcome
    if tag == "fault":
        return record.fault or NO_FAULT
    return record.tags.get(tag) or NO_TAG


def record_matches(record: AttemptRecord, filters: Sequence[TagFilter]) -> bool:
    return all((record_tag(record, f.tag) == f.value) != f.negate for f in filters)


def _series(key: MetricKey) -> _Series:
    return key.name, key.filters


class LiveTrends:
    """The live histograms of the latency metrics ``checks`` name (others are ignored)."""

    __slots__ = ("_histograms",)

    def __init__(self, checks: Sequence[Check], names: Sequence[str]) -> None:
        self._histograms: dict[_Series, LogHistogram] = {
            _series(c.key): LogHistogram() for c in checks if c.info.name in names
        }

    def __bool__(self) -> bool:
        return bool(self._histograms)

    def observe(self, record: AttemptRecord) -> None:
        """Add one attempt record's samples to every histogram whose filters it matches."""
        samples: dict[str, list[float]] = {}
        for (name, filters), histogram in self._histograms.items():
            if filters and not record_matches(record, filters):
                continue
            if name not in samples:
                samples[name] = [value_s * 1000.0 for _, value_s in attempt_samples(record, name)]
            histogram.add_many(samples[name])

    def figure(self, check: Check) -> tuple[float | None, int] | None:
        """The check's aggregation of its live samples so far and how many there are (None
        when the check's metric is not tracked)."""
        histogram = self._histograms.get(_series(check.key))
        if histogram is None:
            return None
        expression = check.expression
        return histogram.aggregate(expression.agg, expression.percentile), histogram.count
