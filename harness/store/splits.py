"""The ``by_*`` splits of a large run in DuckDB: the temporary table ``logical``
(``harness.store.logical``), the attempts and the cost items in; the objects of
``harness.metrics.breakdown`` out, assembled by its own functions (``client_figures``,
``upstream_view``).

What a request is grouped by is ``LogicalRequest``'s, restated per request in the ``keys``
table: the plan's model, tags and API, or for a request the plan does not hold, its first
attempt's model and tags (API unknown); a tag missing or empty is ``(none)``. A cost item is
grouped with the request its request id names, or under ``(unknown)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from harness.metrics.breakdown import NO_TAG, UNKNOWN, client_figures, upstream_view
from harness.metrics.costs import CostItem
from harness.metrics.percentiles import empty_stats, stats

#: Split name -> its column of ``keys``.
SPLITS = {
    "by_requested_model": "k_model",
    "by_tenant": "k_tenant",
    "by_workload": "k_workload",
    "by_api": "k_api",
}
KEY_COLUMNS = tuple(SPLITS.values())

# A request the plan does not hold is grouped by its first attempt's model and tags.
_UNPLANNED = """
CREATE TEMP TABLE unplanned AS
SELECT request_id, arg_min({'model': model, 'tenant': tags['tenant'],
                           'workload': tags['workload']}, attempt) AS first
FROM att_t SEMI JOIN (SELECT request_id FROM logical WHERE NOT planned) USING (request_id)
GROUP BY request_id
"""
_KEYS = f"""
CREATE TEMP TABLE keys AS
SELECT l.request_id, l.was_sent, l.was_sent AND l.outcome = 'ok' AS is_ok,
  CASE WHEN l.planned THEN l.plan_model ELSE coalesce(nullif(u.first.model, ''), '{UNKNOWN}')
  END AS k_model,
  coalesce(nullif(CASE WHEN l.planned THEN l.plan_tenant ELSE u.first.tenant END, ''),
           '{NO_TAG}') AS k_tenant,
  coalesce(nullif(CASE WHEN l.planned THEN l.plan_workload ELSE u.first.workload END, ''),
           '{NO_TAG}') AS k_workload,
  CASE WHEN l.planned THEN l.plan_api ELSE '{UNKNOWN}' END AS k_api,
  coalesce(nullif(l.final_model, ''), '{UNKNOWN}') AS answered_by
FROM logical l LEFT JOIN unplanned u USING (request_id)
"""
# Every successful attempt with the keys of its request, for the latencies of the splits.
_OK_KEYED = f"""
CREATE TEMP TABLE ok_keyed AS
SELECT {", ".join(f"k.{c}" for c in KEY_COLUMNS)}, a.ttft_s, a.e2e_s
FROM att_t a JOIN keys k USING (request_id) WHERE a.ok AND k.was_sent
"""


def build_keys(con: duckdb.DuckDBPyConnection) -> None:
    """The ``keys`` table: each logical request's split keys (after ``request_figures``)."""
    con.execute(_UNPLANNED)
    con.execute(_KEYS)
    con.execute("DROP TABLE unplanned")


def keyed(source: str) -> str:
    """The billable relation ``source`` with its request's split keys (``(unknown)`` when no
    request has its request id)."""
    columns = ", ".join(f"coalesce(k.{c}, '{UNKNOWN}') AS {c}" for c in KEY_COLUMNS)
    return f"(SELECT i.*, {columns} FROM {source} i LEFT JOIN keys k USING (request_id))"


def _groups(
    con: duckdb.DuckDBPyConnection, column: str
) -> Iterator[tuple[str, np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """Per key of ``column``, the TTFT and E2E seconds of its successful attempts (NaN where
    unknown), one key at a time: a split has a handful of keys, and reading each key's rows
    costs less than sorting every row by key."""
    keys = [
        str(key) for (key,) in con.execute(f"SELECT DISTINCT {column} FROM ok_keyed").fetchall()
    ]
    for key in sorted(keys):
        found = con.sql(
            f"SELECT ttft_s, e2e_s FROM ok_keyed WHERE {column} = ?", params=[key]
        ).to_arrow_table()
        yield key, _seconds(found.column(0)), _seconds(found.column(1))


def _seconds(column: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    return np.asarray(column.to_numpy(), dtype=np.float64)


def _client_split(
    con: duckdb.DuckDBPyConnection, column: str, items: Sequence[tuple[str, CostItem]]
) -> dict[str, Any]:
    requests = {
        str(key): (int(sent), int(ok))
        for key, sent, ok in con.execute(
            f"SELECT {column}, count(*), count(*) FILTER (is_ok) FROM keys WHERE was_sent "
            f"GROUP BY {column}"
        ).fetchall()
    }
    latencies = {
        key: (stats(ttft, scale=1000.0), stats(e2e, scale=1000.0))
        for key, ttft, e2e in _groups(con, column)
    }
    items_by: dict[str, list[CostItem]] = defaultdict(list)
    for key, item in items:
        items_by[key].append(item)
    result: dict[str, Any] = {}
    for key in sorted(set(requests) | set(items_by)):
        sent, ok = requests.get(key, (0, 0))
        ttft_ms, e2e_ms = latencies.get(key, (empty_stats(), empty_stats()))
        result[key] = client_figures(sent, ok, ttft_ms, e2e_ms, items_by.get(key, []))
    return result


def splits(
    con: duckdb.DuckDBPyConnection, items: Sequence[tuple[tuple[str, ...], CostItem]]
) -> dict[str, dict[str, Any]]:
    """The ``by_*`` objects of summary.json; ``items`` are keyed by ``KEY_COLUMNS``."""
    con.execute(_OK_KEYED)
    result: dict[str, dict[str, Any]] = {}
    for index, (name, column) in enumerate(SPLITS.items()):
        result[name] = _client_split(con, column, [(key[index], i) for key, i in items])
    con.execute("DROP TABLE ok_keyed")
    by_model = result["by_requested_model"]
    for figures in by_model.values():
        figures["answered_by_model"] = {}
    for model, answered, n in sorted(
        con.execute(
            "SELECT k_model, answered_by, count(*) FROM keys WHERE is_ok GROUP BY ALL"
        ).fetchall()
    ):
        by_model[str(model)]["answered_by_model"][str(answered)] = int(n)
    result["by_upstream_deployment"] = upstream_view([item for _, item in items])
    ordered = ("by_requested_model", "by_upstream_deployment", "by_tenant", "by_workload")
    return {name: result[name] for name in (*ordered, "by_api")}
