"""Sent logical requests out of core: a connection of ``harness.store.query.run_database`` in,
a temporary table of the run's sent requests out, with tag filters as SQL over it.

The SQL twin of what ``harness.metrics.requests`` says of a sent request, for gates and
comparisons of runs too large for memory: its first attempt's intended time, its *final*
attempt (the last one sent) and the tags a budget key filters on
(``harness.stats.slices.request_tag``: ``model``, ``deployment``, ``outcome``, ``fault`` and
any planned tag). Attempts are ordered by their number, which the engine gives 1, 2, ... per
request (as ``harness.store.summary`` assumes). The names filters fall back to (``(unknown)``,
``none``, ``(none)``) are passed in, so they keep one definition. Tests check these figures
against the in-memory ones on hand-made runs with every edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb

#: The temporary table ``sent_requests`` makes: one row per request with a sent attempt.
SENT_REQUESTS = "sent_req"

_GROUPED = """
SELECT request_id,
  arg_min(scheduled_s, attempt) AS first_scheduled_s,
  {first_tags}
  arg_max({{'outcome': outcome, 'model': model, 'deployment': deployment, 'fault': fault,
            'first_token_s': first_token_s, 'done_s': done_s, 'tpot_s': tpot_s}}, attempt)
    FILTER (WHERE sent) AS final
FROM att_t GROUP BY request_id HAVING bool_or(sent)
"""
_WITH_PLAN = """
CREATE OR REPLACE TEMP TABLE sent_req AS
SELECT r.*, p.request_id IS NOT NULL AS planned, p.model AS planned_model,
  CAST(p.tags AS MAP(VARCHAR, VARCHAR)) AS planned_tags
FROM ({grouped}) r LEFT JOIN plan p USING (request_id)
"""
_WITHOUT_PLAN = "CREATE OR REPLACE TEMP TABLE sent_req AS {grouped}"


class TagFilterLike(Protocol):
    """``harness.stats.slices.TagFilter``: ``tag = value``, or ``tag != value`` if negated."""

    @property
    def tag(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def negate(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Fallbacks:
    """What a request's tag reads when its final attempt or its plan line does not say."""

    unknown: str
    no_fault: str
    no_tag: str


def sent_requests(con: duckdb.DuckDBPyConnection, *, with_plan: bool) -> None:
    """Create ``sent_req``; ``with_plan`` joins the plan, which tag filters need (it costs a
    read of plan.jsonl)."""
    if with_plan:
        grouped = _GROUPED.format(first_tags="arg_min(tags, attempt) AS first_tags,")
        con.execute(_WITH_PLAN.format(grouped=grouped))
    else:
        con.execute(_WITHOUT_PLAN.format(grouped=_GROUPED.format(first_tags="")))


def _tag_sql(tag: str, fallbacks: Fallbacks) -> tuple[str, list[Any]]:
    if tag == "model":
        return (
            "CASE WHEN coalesce(final.model, '') <> '' THEN final.model "
            "WHEN planned THEN planned_model ELSE ? END",
            [fallbacks.unknown],
        )
    if tag == "deployment":
        sql = "CASE WHEN coalesce(final.deployment, '') <> '' THEN final.deployment ELSE ? END"
        return sql, [fallbacks.unknown]
    if tag == "outcome":
        return "final.outcome", []
    if tag == "fault":
        return "CASE WHEN coalesce(final.fault, '') <> '' THEN final.fault ELSE ? END", [
            fallbacks.no_fault
        ]
    return (
        "coalesce(nullif(map_extract_value("
        "CASE WHEN planned THEN planned_tags ELSE first_tags END, ?), ''), ?)",
        [tag, fallbacks.no_tag],
    )


def filter_sql(filters: Sequence[TagFilterLike], fallbacks: Fallbacks) -> tuple[str, list[Any]]:
    """A WHERE condition on ``sent_req`` keeping the requests every filter matches, and its
    parameters (values are bound, never spliced into the SQL)."""
    parts: list[str] = []
    params: list[Any] = []
    for found in filters:
        sql, bound = _tag_sql(found.tag, fallbacks)
        operator = "IS DISTINCT FROM" if found.negate else "IS NOT DISTINCT FROM"
        parts.append(f"({sql}) {operator} ?")
        params.extend([*bound, found.value])
    return " AND ".join(parts) or "true", params
