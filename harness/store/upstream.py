"""The upstream side of a large run in DuckDB: the ``ledger`` view of ``harness.store.query``
(when the run has one) and the attempts in; the facts ``harness.metrics.upstream_figures``
turns into the upstream figures, and the billable relation cost is computed over, out.

Without a ledger the billable attempts are the client's sent attempts (the model the plan
asked for when the answer named none), as ``harness.metrics.costs.items_from_records``. With
one they are the run's ledger lines, each delivered or waste as ``harness.metrics.upstream``
correlates them; the SQL below restates that walk (see ``_DELIVERED``), and the summary
tests prove the result equal to the in-memory summary's on real and hand-made runs.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np

from harness.contract.ledger import WORKER_DIED_FAULT
from harness.metrics.costs import UNKNOWN
from harness.metrics.percentiles import stats
from harness.metrics.upstream_figures import LedgerFacts, LedgerReading
from harness.store.query import scalar

#: The client's sent attempts as a billable relation (``harness.store.billing``).
RECORD_ITEMS = f"""
(SELECT a.request_id,
  coalesce(nullif(a.model, ''), l.plan_last_model, '{UNKNOWN}') AS model,
  coalesce(nullif(a.deployment, ''), '{UNKNOWN}') AS deployment, a.outcome,
  coalesce(a.prompt_tokens, 0) AS prompt, coalesce(a.cached_tokens, 0) AS cached,
  coalesce(a.cache_write_tokens, 0) AS cache_write,
  coalesce(a.completion_tokens, 0) AS completion, NOT a.ok AS wasted
FROM att_t a LEFT JOIN logical l USING (request_id) WHERE a.sent)
"""
#: The run's ledger lines as a billable relation (after ``read_ledger``).
LEDGER_ITEMS = f"""
(SELECT l.request_id, coalesce(nullif(l.model, ''), '{UNKNOWN}') AS model,
  coalesce(nullif(l.deployment, ''), '{UNKNOWN}') AS deployment, l.outcome,
  l.prompt_tokens AS prompt, l.cached_tokens AS cached,
  coalesce(l.cache_write_tokens, 0) AS cache_write, l.completion_tokens AS completion,
  NOT (l.outcome = 'ok' AND (l.request_id IS NULL OR d.line IS NOT NULL)) AS wasted
FROM led l LEFT JOIN delivered d USING (line))
"""

# The ledger read once (JSON is slow to parse), in the columns the figures read; the run's
# lines are those without a run id or with this run's (``entries_of_run``).
_LEDGER_TABLE = """
CREATE TEMP TABLE ledger_t AS
SELECT line, run_id, request_id, attempt, received_s, deployment, model, api, prompt_tokens,
  cached_tokens, cache_write_tokens, completion_tokens, fault, outcome, service_ms, lag_ms
FROM ledger
"""
_LED = """
CREATE TEMP VIEW led AS SELECT * FROM ledger_t WHERE run_id IS NULL OR run_id = '{run_id}'
"""
# The successful client attempts, numbered in file order.
_OK_RECORDS = """
CREATE TEMP TABLE okrec AS
SELECT request_id, attempt, e2e_s, row_number() OVER () AS rn FROM att_t WHERE ok
"""
# ``correlate``'s candidates: the successful lines that name a successful client attempt, by
# (request id, attempt) (the last such record), or, without an attempt, by request id (its
# first successful record, whose attempt the line then claims).
_KEYED_CANDIDATES = """
SELECT l.line, l.received_s, l.request_id, l.attempt AS claims, false AS unkeyed,
  k.e2e_s, l.service_ms
FROM led l JOIN (SELECT request_id, attempt, arg_max({'e2e_s': e2e_s}, rn).e2e_s AS e2e_s
                 FROM okrec GROUP BY request_id, attempt) k
  ON l.request_id = k.request_id AND l.attempt = k.attempt
WHERE l.outcome = 'ok'
"""
# The lines without an attempt (a proxy that does not forward the header); grouping every
# successful record by request for them costs as much as the keyed branch, so it is only
# built when such a line exists.
_UNKEYED_CANDIDATES = """
SELECT l.line, l.received_s, l.request_id, f.first.attempt, true, f.first.e2e_s, l.service_ms
FROM led l JOIN (SELECT request_id, arg_min({'attempt': attempt, 'e2e_s': e2e_s}, rn) AS first
                 FROM okrec GROUP BY request_id) f
  ON l.request_id = f.request_id
WHERE l.outcome = 'ok' AND l.attempt IS NULL
"""
# ``correlate`` walks the lines by time of receipt (file order among equals); a line claims
# its attempt unless an earlier line did, and a line without an attempt claims the request's
# first one unless any earlier line of the request claimed anything. So of a request's
# candidates: the first always delivers; a line without an attempt delivers only if first;
# a line with one delivers if it is the first with that attempt, unless the request's first
# candidate had none and claimed the same attempt.
_DELIVERED = """
CREATE TEMP TABLE delivered AS
WITH ordered AS (
  SELECT *,
    row_number() OVER (PARTITION BY request_id ORDER BY received_s, line) AS nth,
    row_number() OVER (PARTITION BY request_id, unkeyed, claims ORDER BY received_s, line)
      AS nth_claim
  FROM cand),
first_unkeyed AS (SELECT request_id, claims AS first_claims FROM ordered WHERE nth = 1 AND unkeyed)
SELECT o.line, o.e2e_s, o.service_ms
FROM ordered o LEFT JOIN first_unkeyed f USING (request_id)
WHERE CASE WHEN o.unkeyed THEN o.nth = 1
           ELSE o.nth_claim = 1 AND f.first_claims IS DISTINCT FROM o.claims END
"""


def _stats_ms(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any] | None:
    """The stats (ms) of ``sql``'s column of seconds, None without a row."""
    column = np.asarray(con.execute(sql).fetchnumpy()["v"], dtype=np.float64)
    return stats(column, scale=1000.0) if column.size else None


def ledger_lines(con: duckdb.DuckDBPyConnection, run_id: str) -> LedgerFacts:
    """The run's ledger lines (temporary ``ledger_t``, every line; ``led``, the run's) and
    their counts, without matching them to attempts."""
    con.execute(_LEDGER_TABLE)
    con.execute(_LED.format(run_id=run_id.replace("'", "''")))
    lines, with_ids, died, paced, tokens = con.execute(
        "SELECT count(*), count(request_id), count(*) FILTER (fault = $died), "
        "count(*) FILTER (fault IS DISTINCT FROM $died AND lag_ms IS NOT NULL), "
        "coalesce(sum(prompt_tokens + completion_tokens), 0) FROM led",
        {"died": WORKER_DIED_FAULT},
    ).fetchone() or (0, 0, 0, 0, 0)
    return LedgerFacts(int(lines), int(with_ids), int(died), int(paced), int(tokens))


def read_ledger(con: duckdb.DuckDBPyConnection, run_id: str) -> LedgerReading:
    """``ledger_lines``, correlated with the run's attempts (``delivered``, which
    ``LEDGER_ITEMS`` reads), and what the upstream figures need."""
    facts = ledger_lines(con, run_id)
    con.execute(_OK_RECORDS)
    unkeyed = scalar(con, "SELECT count(*) FROM led WHERE outcome = 'ok' AND attempt IS NULL")
    candidates = _KEYED_CANDIDATES + (f"UNION ALL {_UNKEYED_CANDIDATES}" if unkeyed else "")
    con.execute(f"CREATE TEMP TABLE cand AS {candidates}")
    con.execute(_DELIVERED)
    con.execute("DROP TABLE cand; DROP TABLE okrec")  # free DuckDB's memory for what follows
    ok_attempts, delivered_tokens = con.execute(
        "SELECT count(*), coalesce(sum(coalesce(prompt_tokens, 0) + output_tokens), 0) "
        "FROM att_t WHERE ok"
    ).fetchone() or (0, 0)
    # gateway_overhead_s: client E2E minus service time, per delivering pair (none when no
    # line names a request); upstream lag of the lines that produced tokens.
    overhead_ms = (
        _stats_ms(
            con,
            "SELECT e2e_s - service_ms / 1000.0 AS v FROM delivered WHERE e2e_s IS NOT NULL",
        )
        if facts.with_ids
        else None
    )
    lag_ms = _stats_ms(
        con,
        "SELECT lag_ms / 1000.0 AS v FROM led WHERE lag_ms IS NOT NULL AND completion_tokens <> 0",
    )
    return LedgerReading(
        facts=facts,
        overhead_ms=overhead_ms,
        lag_ms=lag_ms,
        any_ok=bool(ok_attempts),
        delivered_tokens=int(delivered_tokens),
    )
