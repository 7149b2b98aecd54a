"""The gateway cache of a large run in DuckDB: the temporary table ``logical``
(``harness.store.logical``), the ledger as ``harness.store.upstream`` read it and the
billable relation in; ``gateway_cache_hit_rate`` and ``gateway_cache`` out, defined and
assembled by ``harness.metrics.gateway_cache`` (whose docstring says what a hit is).

A request's repeat class, planned similarity and similarity bucket are computed in Python by
that module's functions, once per distinct (repeats, similarity) pair of the plan, and joined
back: the definitions stay in one place.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from harness.cost import PriceBook
from harness.metrics.costs import total_usd
from harness.metrics.gateway_cache import (
    EXACT,
    ORIGINAL,
    PARAPHRASE,
    CacheCounts,
    cache_figures,
    class_of,
    group_figures,
    similarity_bucket,
    similarity_of,
)
from harness.metrics.percentiles import quantile, stats
from harness.metrics.requests import CONTENT_FILTERED
from harness.store.billing import cost_items
from harness.store.query import has_ledger, scalar

# Every line of the ledger counts, this run's or not (``ledger_t``: ``harness.store.upstream``).
_NAMED = """
CREATE TEMP TABLE named AS SELECT DISTINCT request_id, api FROM ledger_t WHERE request_id <> ''
"""
# Requests answered well (sent, final attempt ok, planned, not a content filter's answer),
# and whether a ledger line names them under their wire API (a miss) or none does (a hit).
_ANSWERED = """
CREATE TEMP TABLE answered AS
SELECT l.request_id, n.request_id IS NULL AS hit, coalesce(l.repeat_of, '') <> '' AS repeats,
  l.similarity, l.final_e2e_s AS e2e_s
FROM logical l LEFT JOIN named n
  ON n.request_id = l.request_id AND n.api IS NOT DISTINCT FROM l.plan_api
WHERE l.was_sent AND l.outcome = 'ok' AND l.planned
  AND (l.final_finish_reason IS NULL OR l.final_finish_reason NOT IN ({filtered}))
"""


def _classes(con: duckdb.DuckDBPyConnection) -> None:
    """Table ``classes``: per distinct (repeats, similarity), the class, planned similarity
    and bucket ``harness.metrics.gateway_cache`` gives."""
    pairs = con.execute("SELECT DISTINCT repeats, similarity FROM answered").fetchall()
    rows = [
        (repeats, similarity, class_of("x" if repeats else "", similarity), planned)
        for repeats, similarity in pairs
        for planned in [similarity_of("x" if repeats else "", similarity)]
    ]
    table = pa.table(
        {
            "repeats": pa.array([r[0] for r in rows], pa.bool_()),
            "similarity": pa.array([r[1] for r in rows], pa.float64()),
            "cls": pa.array([r[2] for r in rows], pa.string()),
            "planned": pa.array([r[3] for r in rows], pa.float64()),
            "bucket": pa.array([similarity_bucket(r[3]) for r in rows], pa.string()),
        }
    )
    con.register("class_rows", table)
    con.execute(
        "CREATE TEMP TABLE classed AS SELECT a.*, c.cls, c.planned, c.bucket FROM answered a "
        "JOIN class_rows c ON a.repeats = c.repeats "
        "AND a.similarity IS NOT DISTINCT FROM c.similarity"
    )
    con.unregister("class_rows")


def _e2e(con: duckdb.DuckDBPyConnection, where: str, *parameters: Any) -> np.ndarray[Any, Any]:
    sql = f"SELECT e2e_s AS v FROM classed WHERE e2e_s IS NOT NULL AND {where}"
    return np.asarray(con.execute(sql, list(parameters)).fetchnumpy()["v"], dtype=np.float64)


def _group(con: duckdb.DuckDBPyConnection, where: str, *parameters: Any) -> dict[str, Any]:
    answered, hits = con.execute(
        f"SELECT count(*), count(*) FILTER (hit) FROM classed WHERE {where}", list(parameters)
    ).fetchall()[0]
    return group_figures(
        int(answered),
        int(hits),
        stats(_e2e(con, f"hit AND {where}", *parameters), scale=1000.0),
        stats(_e2e(con, f"NOT hit AND {where}", *parameters), scale=1000.0),
    )


def _median_s(con: duckdb.DuckDBPyConnection, where: str) -> float | None:
    values = _e2e(con, where)
    return quantile(values, 0.5)


def gateway_cache(
    con: duckdb.DuckDBPyConnection, source: str, book: PriceBook, threshold: float | None
) -> dict[str, Any]:
    """``gateway_cache_hit_rate`` and ``gateway_cache`` (null without a ledger naming
    requests); ``source`` is the run's billable relation (``harness.store.billing``)."""
    if not has_ledger(con):
        return {"gateway_cache_hit_rate": None, "gateway_cache": None}
    con.execute(_NAMED)
    if not scalar(con, "SELECT count(*) FROM named"):
        return {"gateway_cache_hit_rate": None, "gateway_cache": None}
    filtered = ", ".join(f"'{reason}'" for reason in sorted(CONTENT_FILTERED))
    con.execute(_ANSWERED.format(filtered=filtered))
    _classes(con)
    con.execute("DROP TABLE answered; DROP TABLE named")
    by_class = {name: _group(con, "cls = ?", name) for name in (ORIGINAL, EXACT, PARAPHRASE)}
    by_similarity: dict[str, Any] = {}
    buckets = con.execute(
        "SELECT bucket, min(planned) FROM classed WHERE cls = ? GROUP BY bucket ORDER BY 2",
        [PARAPHRASE],
    ).fetchall()
    for bucket, _ in buckets:
        by_similarity[bucket] = _group(con, "cls = ? AND bucket = ?", PARAPHRASE, bucket)
    answered, hits, false_hits = con.execute(
        "SELECT count(*), count(*) FILTER (hit), count(*) FILTER (hit AND "
        + ("cls = ?)" if threshold is None else "planned < ?)")
        + " FROM classed",
        [ORIGINAL if threshold is None else threshold],
    ).fetchall()[0]
    misses = int(answered) - int(hits)
    miss_cost: float | None = None
    if misses:
        # What the misses cost, known when every miss has a priced item (``cost_by_request``).
        con.execute(
            f"CREATE TEMP TABLE missed AS SELECT * FROM {source} SEMI JOIN "
            "(SELECT request_id FROM classed WHERE NOT hit) USING (request_id)"
        )
        items = [item for _, item in cost_items(con, "missed", book)]
        with_items = scalar(con, "SELECT count(DISTINCT request_id) FROM missed")
        con.execute("DROP TABLE missed")
        miss_cost = total_usd(items) if with_items == misses else None
    return cache_figures(
        CacheCounts(int(hits), int(answered), int(false_hits)),
        by_class,
        by_similarity,
        (_median_s(con, "hit"), _median_s(con, "NOT hit")),
        miss_cost,
        threshold,
    )
