"""The summary of a run too large for memory: its files queried with DuckDB
(``harness.store.query``) in, the figures of ``harness.metrics.summary`` out.

Same definitions, same figures: latency percentiles come from the same numpy function over
the same samples in the same order (one metric's samples in memory at a time: 80 MB for
10 million attempts); ITL, of which a run holds billions of gaps, from counts of distinct
microsecond gaps (``stats_from_counts``: the same ranks and interpolation, equal up to
float rounding). Request-level figures group attempts by request id inside DuckDB, which
spills to disk past its memory limit.

Not computed here yet, and null with a note saying so: cost and upstream figures (ledger
lines and prices), the ``by_*`` breakdowns, fault windows, the cost projection.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import duckdb
import numpy as np

from harness.metrics.inputs import SummaryInputs
from harness.metrics.percentiles import stats, stats_from_counts
from harness.metrics.summary import CLOSED_LOOP_NOTE, SUMMARY_SCHEMA
from harness.metrics.token_pace import client_behind, judge_itl
from harness.metrics.validity import assess_validity
from harness.run_dir import RunPaths
from harness.store.query import run_database

NOT_COMPUTED_NOTE = (
    "run of {n:,} attempts summarised from its files in bounded memory: cost, upstream "
    "figures, gateway-cache and probe figures and the by-model/tenant/workload/API splits are "
    "not computed at this size yet (null)"
)
_UPSTREAM_KEYS = (
    "upstream_attempts",
    "retry_amplification",
    "token_amplification",
    "gateway_overhead_ms",
    "upstream_lag_ms",
    "ledger_source",
    "cost_usd_total",
    "cost_per_1k_requests_usd",
    "wasted_cost_usd",
    "prices",
    "unpriced_models",
    "gateway_cache_hit_rate",
    "gateway_cache",
    "probe_block_rate",
    "probe_false_positive_rate",
    "probes",
)

# A request's attempts are numbered 1, 2, ... by the engine, so a request id without an
# attempt other than 1 has one record: those (nearly all) need no grouping.
_RETRIED = """
CREATE TEMP TABLE retried AS SELECT DISTINCT request_id FROM att_t WHERE attempt <> 1
"""
_REQUESTS = """
CREATE TEMP TABLE req AS
SELECT request_id, sent AS was_sent, outcome AS last_outcome,
  scheduled_s AS first_scheduled_s,
  CASE WHEN sent THEN {'outcome': outcome, 'first_token_s': first_token_s, 'done_s': done_s,
                       'tpot_s': tpot_s} END AS final
FROM att_t ANTI JOIN retried USING (request_id)
UNION ALL
SELECT request_id,
  bool_or(sent) AS was_sent,
  arg_max(outcome, attempt) AS last_outcome,
  arg_min(scheduled_s, attempt) AS first_scheduled_s,
  arg_max({'outcome': outcome, 'first_token_s': first_token_s, 'done_s': done_s,
           'tpot_s': tpot_s}, attempt) FILTER (WHERE sent) AS final
FROM att_t SEMI JOIN retried USING (request_id)
GROUP BY request_id
"""
_LOGICAL = """
CREATE TEMP TABLE logical AS
SELECT coalesce(p.request_id, r.request_id) AS request_id,
  p.request_id IS NOT NULL AS planned, p.offset_s,
  coalesce(r.was_sent, false) AS was_sent, r.request_id IS NULL AS unrecorded,
  CASE WHEN r.was_sent THEN r.final.outcome ELSE coalesce(r.last_outcome, 'cancelled') END
    AS outcome,
  r.final.done_s - r.first_scheduled_s AS with_retries_s,
  r.final.first_token_s - r.first_scheduled_s AS user_ttft_s,
  r.final.tpot_s AS final_tpot_s
FROM plan p FULL OUTER JOIN req r ON p.request_id = r.request_id
"""


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return None if row is None else row[0]


def _counts(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    return {str(key): int(n) for key, n in sorted(con.execute(sql).fetchall())}


def _stats_ms(con: duckdb.DuckDBPyConnection, expression: str, where: str) -> dict[str, Any]:
    column = con.execute(
        f"SELECT {expression} AS v FROM att_t WHERE {where} AND {expression} IS NOT NULL"
    ).fetchnumpy()["v"]
    return stats(np.asarray(column, dtype=np.float64), scale=1000.0)


def _ratio(numerator: float | None, denominator: float) -> float | None:
    return None if numerator is None or denominator <= 0 else numerator / denominator


def _requests(con: duckdb.DuckDBPyConnection, inputs: SummaryInputs) -> dict[str, Any]:
    con.execute(_RETRIED)
    con.execute(_REQUESTS)
    con.execute(_LOGICAL)
    planned, sent, ok, unrecorded, steady = con.execute(
        "SELECT count(*), count(*) FILTER (was_sent), "
        "count(*) FILTER (was_sent AND outcome = 'ok'), count(*) FILTER (unrecorded), "
        f"count(*) FILTER (NOT planned OR offset_s < {float(inputs.duration_s)!r}) FROM logical"
    ).fetchone() or (0, 0, 0, 0, 0)
    unsent = _counts(con, "SELECT outcome, count(*) FROM logical WHERE NOT was_sent GROUP BY 1")
    slo = inputs.slo
    good_sql = "was_sent AND outcome = 'ok'"
    if slo.ttft is not None:
        good_sql += f" AND user_ttft_s IS NOT NULL AND user_ttft_s <= {slo.ttft!r}"
    if slo.e2e is not None:
        good_sql += f" AND with_retries_s IS NOT NULL AND with_retries_s <= {slo.e2e!r}"
    if slo.tpot is not None:
        good_sql += f" AND (final_tpot_s IS NULL OR final_tpot_s <= {slo.tpot!r})"
    good = int(_scalar(con, f"SELECT count(*) FROM logical WHERE {good_sql}") or 0)
    in_flight = _scalar(
        con, "SELECT count(*) FROM logical WHERE was_sent AND outcome = 'cancelled'"
    )
    with_retries = con.execute(
        "SELECT with_retries_s AS v FROM logical WHERE was_sent AND with_retries_s IS NOT NULL"
    ).fetchnumpy()["v"]
    duration = inputs.duration_s
    return {
        "requests_planned": planned,
        "requests_sent": sent,
        "requests_ok": ok,
        "requests_failed": sent - ok,
        "requests_dropped": unsent.get("dropped", 0),
        "requests_cancelled": sum(n for o, n in unsent.items() if o != "dropped"),
        "requests_unrecorded": unrecorded,
        "error_rate": _ratio(sent - ok, sent),
        "outcomes": _counts(con, "SELECT outcome, count(*) FROM logical GROUP BY 1"),
        "achieved_rps": _ratio(sent, duration),
        "target_rps": None if inputs.concurrency is not None else _ratio(steady, duration),
        "latency_with_retries_ms": stats(np.asarray(with_retries, np.float64), scale=1000.0),
        "goodput_rps": good / duration if duration > 0 else None,
        "slo_attainment": good / sent if sent else None,
        "slo": slo.model_dump(mode="json"),
        "in_flight": int(in_flight or 0),
    }


def _tokens(con: duckdb.DuckDBPyConnection, duration_s: float) -> dict[str, Any]:
    prompt, completion, cached, written, attempts = con.execute(
        "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), "
        "sum(cached_tokens), coalesce(sum(cache_write_tokens), 0), count(*) "
        "FROM att_t WHERE sent"
    ).fetchone() or (0, 0, None, 0, 0)
    delivered = _scalar(con, "SELECT coalesce(sum(output_tokens), 0) FROM att_t WHERE ok")
    pairs = con.execute(
        "SELECT count(*), sum(planned_prompt_tokens), sum(prompt_tokens) FROM att_t "
        "WHERE sent AND usage_source = 'server' AND planned_prompt_tokens IS NOT NULL "
        "AND prompt_tokens IS NOT NULL"
    ).fetchone() or (0, None, None)
    return {
        "output_tokens_per_s": _ratio(int(delivered or 0), duration_s),
        "prompt_tokens_total": int(prompt),
        "completion_tokens_total": int(completion),
        "cached_tokens_total": None if cached is None else int(cached),
        "cache_hit_rate": None if cached is None else _ratio(int(cached), int(prompt)),
        "cache_write_tokens_total": int(written),
        "usage_source_counts": _counts(
            con, "SELECT coalesce(usage_source, 'none'), count(*) FROM att_t WHERE sent GROUP BY 1"
        ),
        "client_attempts": int(attempts),
        "attempt_outcomes": _counts(con, "SELECT outcome, count(*) FROM att_t GROUP BY 1"),
        "prompt_tokens_planned_total": None if not pairs[0] else int(pairs[1]),
        "prompt_tokens_upstream_total": None if not pairs[0] else int(pairs[2]),
        "prompt_tokens_upstream_ratio": None if not pairs[0] else _ratio(pairs[2], pairs[1]),
        "prompt_tokens_compared_attempts": int(pairs[0]),
    }


#: Gaps under this many microseconds are counted in an array indexed by the gap (``bincount``);
#: the rare longer ones by ``unique``.
_DENSE_GAP_US = 1 << 21


def _itl(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], float | None]:
    """ITL's stats and same-read share from every gap of every successful stream, streamed
    from DuckDB a batch at a time into counts of distinct microsecond gaps."""
    dense = np.zeros(_DENSE_GAP_US, np.int64)
    sparse: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    reader = con.sql("SELECT token_gaps_us FROM att_t WHERE ok").to_arrow_reader(1 << 16)
    for batch in reader:
        gaps = batch.column(0).flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        inside = (gaps >= 0) & (gaps < _DENSE_GAP_US)
        dense += np.bincount(gaps[inside], minlength=_DENSE_GAP_US)
        if not inside.all():
            sparse.append(np.unique(gaps[~inside], return_counts=True))
    values = [np.flatnonzero(dense)] + [v for v, _ in sparse]
    counts = [dense[values[0]]] + [c for _, c in sparse]
    gap_us = np.concatenate(values).astype(np.float64)
    count = np.concatenate(counts)
    total = int(count.sum())
    share = float(count[gap_us <= 0].sum()) / total if total else None
    return stats_from_counts(gap_us / 1e6, count, scale=1000.0), share


def summarize_files(paths: RunPaths, inputs: SummaryInputs, attempts: int) -> dict[str, Any]:
    """The summary.json object of the run in ``paths`` (scalars from ``inputs``)."""
    with run_database(paths) as con:
        return summarize_database(con, inputs, attempts)


def summarize_database(
    con: duckdb.DuckDBPyConnection, inputs: SummaryInputs, attempts: int
) -> dict[str, Any]:
    """``summarize_files`` on a connection of ``harness.store.query.run_database``."""
    notes: list[str] = []
    summary: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "run_id": inputs.run_id,
        "duration_s": inputs.duration_s,
        "concurrency": inputs.concurrency,
    }
    requests = _requests(con, inputs)
    slo_keys = ("goodput_rps", "slo_attainment", "slo", "latency_with_retries_ms", "in_flight")
    summary.update({k: v for k, v in requests.items() if k not in slo_keys})
    if inputs.concurrency is not None:
        notes.append(CLOSED_LOOP_NOTE.format(n=inputs.concurrency))
    summary.update(
        ttft_ms=_stats_ms(con, "ttft_s", "ok"),
        ttft_corrected_ms=_stats_ms(con, "ttft_corrected_s", "ok"),
        tpot_ms=_stats_ms(con, "tpot_s", "ok"),
        e2e_ms=_stats_ms(con, "e2e_s", "ok"),
        e2e_corrected_ms=_stats_ms(con, "e2e_corrected_s", "ok"),
        latency_with_retries_ms=requests["latency_with_retries_ms"],
        schedule_lag_ms=_stats_ms(con, "schedule_lag_s", "sent"),
    )
    itl_ms, share = _itl(con)
    tokens = _tokens(con, inputs.duration_s)
    cpu_share = (
        None
        if inputs.client_cpu_s is None or inputs.wall_s is None
        else _ratio(inputs.client_cpu_s, inputs.wall_s)
    )
    limits = inputs.limits
    behind = client_behind(
        summary["schedule_lag_ms"]["p99"],
        cpu_share,
        limits.max_schedule_lag_p99_ms,
        limits.max_client_cpu_share,
    )
    itl = judge_itl(itl_ms, share, behind)
    summary.update(itl_ms=itl.itl_ms, itl_same_read_share=itl.same_read_share)
    if itl.remark is not None:
        notes.append(itl.remark)
    summary.update(tokens, prompt_tokenizer=inputs.tokenizer)
    summary["client_retries"] = summary["client_attempts"] - summary["requests_sent"]
    summary.update(dict.fromkeys(_UPSTREAM_KEYS), cost_source=None)
    summary.update({k: requests[k] for k in ("goodput_rps", "slo_attainment", "slo")})
    if summary["requests_unrecorded"]:
        notes.append(
            f"{summary['requests_unrecorded']} planned requests have no record "
            "(run interrupted?) and count as cancelled"
        )
    in_flight = requests["in_flight"]
    if in_flight:
        notes.append(
            f"{in_flight} requests were still in flight when the run ended; they count as failed"
        )
    notes.append(NOT_COMPUTED_NOTE.format(n=attempts))
    valid, validity_notes = assess_validity(
        schedule_lag_p99_ms=summary["schedule_lag_ms"]["p99"],
        upstream_lag_p99_ms=None,
        requests_dropped=summary["requests_dropped"],
        requests_sent=summary["requests_sent"],
        client_cpu_s=inputs.client_cpu_s,
        wall_s=inputs.wall_s,
        limits=limits,
        achieved_rps=summary["achieved_rps"],
        target_rps=summary["target_rps"],
        pool_waits=inputs.pool_waits,
        max_connections=inputs.max_connections,
    )
    if itl.withheld_because is not None:
        validity_notes.append(itl.withheld_because)
    summary.update(
        client_cpu_s=inputs.client_cpu_s,
        wall_s=inputs.wall_s,
        client_cpu_share=cpu_share,
        max_connections=inputs.max_connections,
        pool_waits=inputs.pool_waits,
        valid=valid,
        validity_notes=validity_notes,
        notes=notes,
        validity_limits=dataclasses.asdict(limits),
        by_requested_model={},
        by_upstream_deployment={},
        by_tenant={},
        by_workload={},
        by_api={},
    )
    return summary
