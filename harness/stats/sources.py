"""Sample sources: a run in, the samples of metric M for tag filters F, and the figures of
that slice, out.

Gates (``harness.gates.observe``) and comparisons (``harness.compare.table``) ask a source and
never read records themselves. Two sources answer: ``RecordSamples`` from the records of a run
held in memory (``harness.stats.slices``, ``harness.stats.request_samples``), and
``FileSamples`` from the files of a run too large for that (``harness.stats.file_samples``,
DuckDB over the Parquet chunks, one metric in memory at a time). ``source_of`` picks the one
that fits how the run was read (``RunData.files``). A metric is named by its summary key, and
its samples are those whose aggregation gives that figure: per attempt for latency trends, per
sent request for ``error_rate``, ``goodput_rps`` and the cost and upstream figures, per sent
attempt for ``cache_hit_rate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from harness.stats.columns import Samples
from harness.stats.file_samples import FileSamples
from harness.stats.request_samples import (
    cache_hits,
    good_requests,
    request_costs,
    upstream_attempts,
)
from harness.stats.run_data import RunData
from harness.stats.slices import (
    SliceFigures,
    TagFilter,
    request_failures,
    select,
    trend_samples,
)

#: Why a run held in memory has no samples of a metric (its summary may still hold figures).
NO_RECORDS = "needs records.jsonl (the summary does not carry this aggregation)"


class SampleSource(Protocol):
    def figures(self, filters: Sequence[TagFilter]) -> SliceFigures:
        """The summary figures of the requests ``filters`` select (``SliceError`` if none
        can be computed)."""
        ...

    def samples(self, metric: str, filters: Sequence[TagFilter]) -> Samples | None:
        """The samples behind ``metric`` over those requests (None when this source cannot
        give them; ``SliceError`` when the slice cannot be made)."""
        ...

    def no_samples(self, metric: str) -> str:
        """Why ``samples`` gave None for ``metric``, as a gate row's reason."""
        ...


_REQUEST_SAMPLES: dict[str, Callable[[RunData], Samples | None]] = {
    "error_rate": request_failures,
    "cost_per_1k_requests_usd": request_costs,
    "retry_amplification": upstream_attempts,
    "cache_hit_rate": cache_hits,
    "goodput_rps": good_requests,
}


class RecordSamples:
    """Samples of a run whose records are in memory (each slice recomputed once)."""

    def __init__(self, run: RunData) -> None:
        self._run = run
        self._slices: dict[tuple[TagFilter, ...], RunData] = {}

    def _slice(self, filters: Sequence[TagFilter]) -> RunData:
        key = tuple(filters)
        if key not in self._slices:
            self._slices[key] = select(self._run, key)
        return self._slices[key]

    def figures(self, filters: Sequence[TagFilter]) -> SliceFigures:
        return SliceFigures(self._slice(filters).summary)

    def samples(self, metric: str, filters: Sequence[TagFilter]) -> Samples | None:
        sliced = self._slice(filters)
        found = _REQUEST_SAMPLES.get(metric)
        return found(sliced) if found is not None else trend_samples(sliced, metric)

    def no_samples(self, metric: str) -> str:
        return NO_RECORDS


def source_of(run: RunData) -> SampleSource:
    """The source of ``run``'s samples: its files when it was read out of core, else its
    records."""
    return RecordSamples(run) if run.files is None else FileSamples(run)
