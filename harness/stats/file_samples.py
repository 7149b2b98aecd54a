"""The sample source of a run too large for memory: its files (DuckDB over the Parquet chunks
and the JSONL tail, ``harness.store.query``) in, one metric's samples as numpy arrays out.

What it answers, exactly as the records in memory would (same samples, same order, so the
same percentiles, rank tests and seeded bootstrap intervals):

- the attempt trends (``ttft_ms``, ``ttft_corrected_ms``, ``tpot_ms``, ``e2e_ms``,
  ``e2e_corrected_ms``, ``schedule_lag_ms``) from the ``att_t`` columns named after their
  ``harness.metrics.latency`` definitions (``harness.stats.trends.attempt_trend_columns``);
- ``latency_with_retries_ms``, ``error_rate`` and ``goodput_rps`` per sent request
  (``harness.store.request_table``; the SLO judged by ``harness.metrics.slo.within_slo``), and
  for a tag-filtered slice the request counts and ``error_rate``;
- ``cache_hit_rate`` per sent attempt, and ``cost_per_1k_requests_usd`` and
  ``retry_amplification`` per sent request from the ledger lines or the client's attempts
  (``harness.stats.file_costs``), for the whole run only.

Anything else is unknown here, with a reason, never 0: ``itl_ms`` (billions of gaps; the
summary's figures, exact from counts, still answer unfiltered checks), ``gateway_overhead_ms``,
the cost, upstream and cache samples of a tag-filtered slice, and a slice's other figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from harness.contract.records import RecordFileError
from harness.metrics.requests import UNKNOWN
from harness.metrics.slo import within_slo
from harness.run_dir import RunPaths
from harness.stats.columns import Samples, cache_hit_samples, failure_samples, time_ordered
from harness.stats.file_costs import cost_samples, upstream_samples
from harness.stats.run_data import RunData
from harness.stats.slices import SliceError, SliceFigures, TagFilter, terms_of
from harness.stats.trends import ATTEMPT_TRENDS, NO_FAULT, NO_TAG, attempt_trend_columns
from harness.store.query import run_database
from harness.store.request_table import Fallbacks, filter_sql, sent_requests

#: How a run is read when ``harness.stats.run_data.load_run`` found it too large for memory.
OUT_OF_CORE = "read from its files in bounded memory"
#: A tag-filtered figure this source does not compute.
SLICE_MISSING = (
    "not computed for a tag-filtered slice of a run " + OUT_OF_CORE + " yet (only "
    "error_rate, requests_sent, requests_ok, requests_failed and latency trends but itl_ms)"
)
_FALLBACKS = Fallbacks(unknown=UNKNOWN, no_fault=NO_FAULT, no_tag=NO_TAG)
#: Requests judged against the SLO per batch of Python values (bounds the memory it takes).
_JUDGED_AT_ONCE = 100_000
_SLO_COLUMNS = ("ok", "ttft", "e2e", "tpot")
#: Per-request samples priced or counted from the ledger (or the client's attempts).
_REQUEST_COSTS: dict[str, Callable[[duckdb.DuckDBPyConnection, RunData], Samples | None]] = {
    "cost_per_1k_requests_usd": cost_samples,
    "retry_amplification": upstream_samples,
}
#: Metrics whose samples this source gives for the whole run only.
WHOLE_RUN_ONLY = ("cache_hit_rate", *_REQUEST_COSTS)
# The time of an attempt's sample, as harness.stats.trends.attempt_samples gives it.
_ATTEMPT_TIME = "CASE WHEN sent_s <> 0 THEN sent_s ELSE scheduled_s END"


def _floats(column: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(column, dtype=np.float64)


def _optional(column: Any) -> list[Any]:
    """A fetched column as Python values, None where SQL had NULL."""
    return list(column.tolist())


class FileSamples:
    """Samples of a run read out of core (``RunData.files``), queried one metric at a time."""

    def __init__(self, run: RunData) -> None:
        if run.files is None:
            raise ValueError(f"run {run.label} was read into memory: use its records")
        self._run = run
        self._paths: RunPaths = run.files
        self._figures: dict[tuple[TagFilter, ...], SliceFigures] = {}

    @contextmanager
    def _database(self, filters: Sequence[TagFilter]) -> Iterator[duckdb.DuckDBPyConnection]:
        """The run's views, plus ``sent_req`` when ``filters`` select requests by tag."""
        try:
            with run_database(self._paths) as con:
                if filters:
                    sent_requests(con, with_plan=True)
                yield con
        except (duckdb.Error, OSError, RecordFileError, pa.ArrowException) as exc:
            raise SliceError(f"run {self._run.label}: cannot query its files ({exc})") from None

    def _kept(self, filters: Sequence[TagFilter]) -> tuple[str, list[Any]]:
        """A condition on ``att_t`` keeping the attempts of the requests ``filters`` select."""
        if not filters:
            return "true", []
        where, params = filter_sql(filters, _FALLBACKS)
        return f"request_id IN (SELECT request_id FROM sent_req WHERE {where})", params

    def figures(self, filters: Sequence[TagFilter]) -> SliceFigures:
        if not filters:
            return SliceFigures(self._run.summary)
        key = tuple(filters)
        if key not in self._figures:
            where, params = filter_sql(filters, _FALLBACKS)
            with self._database(filters) as con:
                row = con.execute(
                    "SELECT count(*), count(*) FILTER (final.outcome = 'ok') "
                    f"FROM sent_req WHERE {where}",
                    params,
                ).fetchone()
            sent, ok = (0, 0) if row is None else (int(row[0]), int(row[1]))
            summary = {
                "requests_sent": sent,
                "requests_ok": ok,
                "requests_failed": sent - ok,
                "error_rate": (sent - ok) / sent if sent else None,
            }
            self._figures[key] = SliceFigures(summary, SLICE_MISSING)
        return self._figures[key]

    def samples(self, metric: str, filters: Sequence[TagFilter]) -> Samples | None:
        if metric in ATTEMPT_TRENDS:
            population, column = attempt_trend_columns(metric)
            kept, params = self._kept(filters)
            with self._database(filters) as con:
                found = con.execute(
                    f"SELECT {_ATTEMPT_TIME} AS t, {column} AS v FROM att_t "
                    f"WHERE {population} AND {column} IS NOT NULL AND {kept}",
                    params,
                ).fetchnumpy()
            return time_ordered(_floats(found["t"]), _floats(found["v"]), 1000.0)
        if metric in ("latency_with_retries_ms", "error_rate"):
            return self._request_samples(metric, filters)
        if metric == "goodput_rps":
            return self._good_requests(filters)
        costed = _REQUEST_COSTS.get(metric)
        if costed is not None and not filters:
            with self._database(filters) as con:
                return costed(con, self._run)
        if metric == "cache_hit_rate" and not filters:
            with self._database(filters) as con:
                found = con.execute(
                    "SELECT sent_s AS t, coalesce(cached_tokens, 0)::BIGINT AS c, "
                    "coalesce(prompt_tokens, 0)::BIGINT AS p FROM att_t WHERE sent"
                ).fetchnumpy()  # in record order: ties in sent_s keep it
            return cache_hit_samples(
                _floats(found["t"]),
                np.asarray(found["c"], np.int64),
                np.asarray(found["p"], np.int64),
            )
        return None

    def _request_samples(self, metric: str, filters: Sequence[TagFilter]) -> Samples:
        where, params = filter_sql(filters, _FALLBACKS)
        with self._database(filters) as con:
            if not filters:
                sent_requests(con, with_plan=False)
            if metric == "error_rate":
                found = con.execute(
                    "SELECT first_scheduled_s AS t, final.outcome = 'ok' AS ok "
                    f"FROM sent_req WHERE {where}",
                    params,
                ).fetchnumpy()
                return failure_samples(_floats(found["t"]), np.asarray(found["ok"], np.bool_))
            found = con.execute(
                "SELECT first_scheduled_s AS t, final.done_s - first_scheduled_s AS v "
                f"FROM sent_req WHERE final.done_s IS NOT NULL AND {where}",
                params,
            ).fetchnumpy()
        return time_ordered(_floats(found["t"]), _floats(found["v"]), 1000.0)

    def _good_requests(self, filters: Sequence[TagFilter]) -> Samples | None:
        """Per sent request, its share of ``goodput_rps``: sent / duration if it met the SLO
        (as ``harness.stats.request_samples.good_requests``)."""
        try:
            terms = terms_of(self._run)
        except SliceError:
            return None
        where, params = filter_sql(filters, _FALLBACKS)
        with self._database(filters) as con:
            if not filters:
                sent_requests(con, with_plan=False)
            found = con.execute(
                "SELECT first_scheduled_s AS t, final.outcome = 'ok' AS ok, "
                "final.first_token_s - first_scheduled_s AS ttft, "
                "final.done_s - first_scheduled_s AS e2e, final.tpot_s AS tpot "
                f"FROM sent_req WHERE {where}",
                params,
            ).fetchnumpy()
        times = _floats(found["t"])
        if times.size == 0 or terms.duration <= 0:
            return None
        weight = times.size / terms.duration
        good = np.empty(times.size, np.bool_)
        for start in range(0, times.size, _JUDGED_AT_ONCE):
            part = slice(start, start + _JUDGED_AT_ONCE)
            ok, ttft, e2e, tpot = (_optional(found[name][part]) for name in _SLO_COLUMNS)
            good[part] = [
                within_slo(*row, slo=terms.slo) for row in zip(ok, ttft, e2e, tpot, strict=True)
            ]
        return time_ordered(times, np.where(good, weight, 0.0))

    def no_samples(self, metric: str) -> str:
        if metric in WHOLE_RUN_ONLY:
            return (
                f"{metric}: its samples are read from the files of a run {OUT_OF_CORE} for "
                "the whole run only, not for a tag-filtered slice yet"
            )
        return (
            f"{metric}: its samples are not read from the files of a run {OUT_OF_CORE} "
            "yet (only the summary's figures are known)"
        )
