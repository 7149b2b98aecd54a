"""The gateway cache, measured from outside: logical requests and the upstream's ledger in,
``gateway_cache_hit_rate`` and the ``gateway_cache`` object of summary.json out.

A request answered successfully with no ledger line under its request id and wire API never
reached the upstream (a semantic cache's own embedding call, tagged with the request's id,
is not the request): something between the client and the upstream (a gateway's exact or semantic
cache) served it. A content filter's answer (a guardrail's ``content_filter`` or ``refusal``
sent with a 2xx) is a block, not a hit, and is left out. The figures need a ledger whose
lines name requests (the tokenstorm headers, or ``[target] tag_prompt`` behind a gateway that
drops them); without one they are unknown (null), never 0.

Split by what the plan says a request was (``[workload.repeat]``): ``original`` (repeats
nothing), ``exact`` (similarity 1.0) or ``paraphrase``, and paraphrases by planned-similarity
bucket. Latency saved is the median E2E of requests that reached the upstream minus that of
hits; cost saved prices each hit at the mean cost of the successful requests that reached
the upstream. A *false hit* is a hit on a request whose planned similarity to anything
earlier is below ``cache_similarity_threshold`` (``[target]``; an original counts as 0):
the cache answered it with another request's answer. Without a threshold, only hits on
originals count as false.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.contract.records import LedgerEntry
from harness.metrics.costs import CostItem
from harness.metrics.latency import e2e_s
from harness.metrics.percentiles import quantile, stats_ms
from harness.metrics.requests import LogicalRequest

#: Upper edges of the paraphrase similarity buckets (the last bucket ends below 1.0).
SIMILARITY_EDGES = (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
ORIGINAL, EXACT, PARAPHRASE = "original", "exact", "paraphrase"


def similarity_of(repeat_of: str | None, similarity: float | None) -> float:
    """A planned request's similarity to what it repeats: 1.0 for an exact repeat, the
    paraphrase's similarity, 0 for an original (``repeat_of`` empty)."""
    if not repeat_of or similarity is None:
        return 0.0
    return float(similarity)


def class_of(repeat_of: str | None, similarity: float | None) -> str:
    """``original``, ``exact`` or ``paraphrase``, by the plan's ``repeat_of`` and similarity."""
    if not repeat_of:
        return ORIGINAL
    return EXACT if similarity_of(repeat_of, similarity) >= 1.0 else PARAPHRASE


def planned_similarity(request: LogicalRequest) -> float:
    """1.0 for an exact repeat, the paraphrase's similarity, 0 for an original."""
    planned = request.planned
    return 0.0 if planned is None else similarity_of(planned.repeat_of, planned.similarity)


def repeat_class(request: LogicalRequest) -> str:
    planned = request.planned
    return ORIGINAL if planned is None else class_of(planned.repeat_of, planned.similarity)


def similarity_bucket(similarity: float) -> str:
    """``[0.80, 0.85)`` style label of a paraphrase's similarity."""
    low = 0.0
    for high in SIMILARITY_EDGES:
        if similarity < high:
            return f"[{low:.2f}, {high:.2f})"
        low = high
    return "1.00"


def _e2e_s(request: LogicalRequest) -> float | None:
    final = request.final
    return None if final is None else e2e_s(final)


def group_figures(
    requests_ok: int, hits: int, hit_e2e_ms: dict[str, Any], miss_e2e_ms: dict[str, Any]
) -> dict[str, Any]:
    """One group of answered requests: how many, how many were hits, and their E2E stats."""
    return {
        "requests_ok": requests_ok,
        "hits": hits,
        "hit_rate": hits / requests_ok if requests_ok else None,
        "hit_e2e_ms": hit_e2e_ms,
        "miss_e2e_ms": miss_e2e_ms,
    }


def _group(requests: Sequence[LogicalRequest], hit_ids: set[str]) -> dict[str, Any]:
    hits = [r for r in requests if r.request_id in hit_ids]
    return group_figures(
        len(requests),
        len(hits),
        stats_ms(v for r in hits if (v := _e2e_s(r)) is not None),
        stats_ms(
            v for r in requests if r.request_id not in hit_ids and (v := _e2e_s(r)) is not None
        ),
    )


def _median(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    return quantile(ordered, 0.5) if ordered else None


def cost_by_request(items: Iterable[CostItem]) -> dict[str, float | None]:
    """What each request's attempts cost upstream (None when any is unpriced)."""
    costs: dict[str, float | None] = {}
    for item in items:
        if item.request_id is None:
            continue
        before = costs.get(item.request_id, 0.0)
        costs[item.request_id] = (
            None if before is None or item.cost_usd is None else before + item.cost_usd
        )
    return costs


def gateway_cache_figures(
    requests: Sequence[LogicalRequest],
    ledger: Sequence[LedgerEntry] | None,
    cost_by_request: Mapping[str, float | None],
    threshold: float | None,
) -> dict[str, Any]:
    """``gateway_cache_hit_rate`` and ``gateway_cache`` (see the module docstring)."""
    named = {(e.request_id, e.api) for e in ledger or () if e.request_id}
    if not named:
        return {"gateway_cache_hit_rate": None, "gateway_cache": None}
    answered = [r for r in requests if r.is_ok and r.planned is not None and not r.content_filtered]
    hit_ids = {
        r.request_id
        for r in answered
        if r.planned is not None and (r.request_id, r.planned.api) not in named
    }
    hits = [r for r in answered if r.request_id in hit_ids]
    misses = [r for r in answered if r.request_id not in hit_ids]
    by_class = {
        name: _group([r for r in answered if repeat_class(r) == name], hit_ids)
        for name in (ORIGINAL, EXACT, PARAPHRASE)
    }
    paraphrases = [r for r in answered if repeat_class(r) == PARAPHRASE]
    buckets: dict[str, list[LogicalRequest]] = {}
    for request in sorted(paraphrases, key=planned_similarity):
        buckets.setdefault(similarity_bucket(planned_similarity(request)), []).append(request)
    hit_e2e = _median(v for r in hits if (v := _e2e_s(r)) is not None)
    miss_e2e = _median(v for r in misses if (v := _e2e_s(r)) is not None)
    miss_costs = [cost_by_request.get(r.request_id) for r in misses]
    priced = [c for c in miss_costs if c is not None]
    cost_known = bool(priced) and len(priced) == len(miss_costs)
    false_hits = [
        r
        for r in hits
        if (repeat_class(r) == ORIGINAL if threshold is None else planned_similarity(r) < threshold)
    ]
    return cache_figures(
        CacheCounts(len(hits), len(answered), len(false_hits)),
        by_class,
        {name: _group(group, hit_ids) for name, group in buckets.items()},
        (hit_e2e, miss_e2e),
        sum(priced) if cost_known else None,
        threshold,
    )


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """Hits, answered requests (hits and misses) and false hits."""

    hits: int
    answered: int
    false_hits: int


def cache_figures(
    counts: CacheCounts,
    by_class: dict[str, Any],
    by_similarity: dict[str, Any],
    median_e2e_s: tuple[float | None, float | None],
    miss_cost_usd: float | None,
    threshold: float | None,
) -> dict[str, Any]:
    """``gateway_cache_hit_rate`` and ``gateway_cache`` from the groups' figures, the median
    E2E of hits and of misses, and what the misses cost (None when any is unpriced or none
    has a known cost)."""
    hits, answered = counts.hits, counts.answered
    hit_e2e, miss_e2e = median_e2e_s
    misses = answered - hits
    return {
        "gateway_cache_hit_rate": hits / answered if answered else None,
        "gateway_cache": {
            "hits": hits,
            "requests_ok": answered,
            "by_repeat_class": by_class,
            "by_similarity": by_similarity,
            "latency_saved_ms": None
            if hit_e2e is None or miss_e2e is None
            else (miss_e2e - hit_e2e) * 1000.0,
            "cost_saved_usd": None
            if miss_cost_usd is None or not misses
            else hits * miss_cost_usd / misses,
            "similarity_threshold": threshold,
            "false_hits": counts.false_hits,
            "false_hit_rate": counts.false_hits / hits if hits else None,
        },
    }
