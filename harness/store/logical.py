"""Logical requests of a large run, in DuckDB: the ``att_t`` and ``plan`` views of
``harness.store.query`` in, the temporary table ``logical`` (one row per request the plan or
the records name, as ``harness.metrics.requests`` groups them) and the request-level figures
of ``harness.metrics.summary`` out.

``logical`` holds what the summary and its splits read of a request: whether it was sent,
its outcome, its latency with retries and user TTFT, its final attempt's TPOT, model, E2E and
finish reason, and the plan's model, API, tags (tenant, workload, class), repeat and
similarity.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np

from harness.metrics.inputs import SummaryInputs
from harness.metrics.percentiles import stats
from harness.store.query import counts, scalar

# A request's attempts are numbered 1, 2, ... by the engine, so a request id without an
# attempt other than 1 has one record: those (nearly all) need no grouping.
_RETRIED = """
CREATE TEMP TABLE retried AS SELECT DISTINCT request_id FROM att_t WHERE attempt <> 1
"""
#: What the summary reads of a request's final (last sent) attempt.
_FINAL = (
    "{'outcome': outcome, 'first_token_s': first_token_s, 'done_s': done_s, 'tpot_s': tpot_s, "
    "'model': model, 'e2e_s': e2e_s, 'finish_reason': finish_reason}"
)
_REQUESTS = f"""
CREATE TEMP TABLE req AS
SELECT request_id, sent AS was_sent, outcome AS last_outcome,
  scheduled_s AS first_scheduled_s,
  CASE WHEN sent THEN {_FINAL} END AS final
FROM att_t ANTI JOIN retried USING (request_id)
UNION ALL
SELECT request_id,
  bool_or(sent) AS was_sent,
  arg_max(outcome, attempt) AS last_outcome,
  arg_min(scheduled_s, attempt) AS first_scheduled_s,
  arg_max({_FINAL}, attempt) FILTER (WHERE sent) AS final
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
  r.final.tpot_s AS final_tpot_s,
  r.final.model AS final_model, r.final.e2e_s AS final_e2e_s,
  r.final.finish_reason AS final_finish_reason,
  p.model AS plan_model, p.last_model AS plan_last_model, p.api AS plan_api,
  p.tenant AS plan_tenant, p.workload AS plan_workload, p.class AS plan_class,
  p.repeat_of, p.similarity
FROM plan p FULL OUTER JOIN req r ON p.request_id = r.request_id
"""


def _ratio(numerator: float | None, denominator: float) -> float | None:
    return None if numerator is None or denominator <= 0 else numerator / denominator


def request_figures(con: duckdb.DuckDBPyConnection, inputs: SummaryInputs) -> dict[str, Any]:
    con.execute(_RETRIED)
    con.execute(_REQUESTS)
    con.execute(_LOGICAL)
    con.execute("DROP TABLE req; DROP TABLE retried")  # free DuckDB's memory for what follows
    planned, sent, ok, unrecorded, steady = con.execute(
        "SELECT count(*), count(*) FILTER (was_sent), "
        "count(*) FILTER (was_sent AND outcome = 'ok'), count(*) FILTER (unrecorded), "
        f"count(*) FILTER (NOT planned OR offset_s < {float(inputs.duration_s)!r}) FROM logical"
    ).fetchone() or (0, 0, 0, 0, 0)
    unsent = counts(con, "SELECT outcome, count(*) FROM logical WHERE NOT was_sent GROUP BY 1")
    slo = inputs.slo
    good_sql = "was_sent AND outcome = 'ok'"
    if slo.ttft is not None:
        good_sql += f" AND user_ttft_s IS NOT NULL AND user_ttft_s <= {slo.ttft!r}"
    if slo.e2e is not None:
        good_sql += f" AND with_retries_s IS NOT NULL AND with_retries_s <= {slo.e2e!r}"
    if slo.tpot is not None:
        good_sql += f" AND (final_tpot_s IS NULL OR final_tpot_s <= {slo.tpot!r})"
    good = int(scalar(con, f"SELECT count(*) FROM logical WHERE {good_sql}") or 0)
    in_flight = scalar(con, "SELECT count(*) FROM logical WHERE was_sent AND outcome = 'cancelled'")
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
        "outcomes": counts(con, "SELECT outcome, count(*) FROM logical GROUP BY 1"),
        "achieved_rps": _ratio(sent, duration),
        "target_rps": None if inputs.concurrency is not None else _ratio(steady, duration),
        "latency_with_retries_ms": stats(np.asarray(with_retries, np.float64), scale=1000.0),
        "goodput_rps": good / duration if duration > 0 else None,
        "slo_attainment": good / sent if sent else None,
        "slo": slo.model_dump(mode="json"),
        "in_flight": int(in_flight or 0),
    }
