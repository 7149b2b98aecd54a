"""``gateway_cache_hit_rate`` and ``gateway_cache``: hits are answered requests without a ledger
line of their own; split by repeat class and similarity; false hits by the threshold."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.contract.records import LedgerEntry, PlannedRequest
from harness.metrics.gateway_cache import gateway_cache_figures, similarity_bucket
from harness.metrics.requests import group_requests
from tests.harness.metrics.conftest import attempt, ledger_line, planned


def _repeat(request_id: str, of: str, similarity: float) -> PlannedRequest:
    return dataclasses.replace(planned(request_id), repeat_of=of, similarity=similarity)


PLAN = [
    planned("a"),
    planned("b"),
    _repeat("c", "a", 1.0),
    _repeat("d", "a", 0.92),
    _repeat("e", "b", 0.6),
    _repeat("f", "b", 0.95),
]
# c, d, e answered by the cache (fast, no ledger line); f reached the upstream; b as well.
RECORDS = [
    attempt("a", sent_s=0.0, done_s=0.5),
    attempt("b", sent_s=0.0, done_s=0.7),
    attempt("c", sent_s=1.0, done_s=1.01),
    attempt("d", sent_s=1.0, done_s=1.03),
    attempt("e", sent_s=1.0, done_s=1.02),
    attempt("f", sent_s=1.0, done_s=1.6),
]
LEDGER = [ledger_line("a"), ledger_line("b"), ledger_line("f")]


def _figures(threshold: float | None, ledger: list[LedgerEntry] | None = LEDGER) -> dict[str, Any]:
    costs = {"a": 0.01, "b": 0.03, "f": 0.02}
    return gateway_cache_figures(group_requests(PLAN, RECORDS), ledger, costs, threshold)


def test_hits_classes_and_savings() -> None:
    figures = _figures(0.9)
    assert figures["gateway_cache_hit_rate"] == pytest.approx(3 / 6)
    cache = figures["gateway_cache"]
    assert cache["hits"] == 3
    assert {k: v["hits"] for k, v in cache["by_repeat_class"].items()} == {
        "original": 0,
        "exact": 1,
        "paraphrase": 2,
    }
    assert cache["by_similarity"]["[0.90, 0.95)"]["hit_rate"] == 1.0
    assert cache["by_similarity"]["[0.95, 1.00)"]["hit_rate"] == 0.0
    assert cache["latency_saved_ms"] == pytest.approx(600 - 20)  # medians 0.6 s and 0.02 s
    assert cache["cost_saved_usd"] == pytest.approx(3 * 0.02)
    # e was planned at 0.6, below the cache's 0.9: it got another request's answer.
    assert (cache["false_hits"], cache["false_hit_rate"]) == (1, pytest.approx(1 / 3))


def test_without_a_threshold_only_hits_on_originals_are_false() -> None:
    assert _figures(None)["gateway_cache"]["false_hits"] == 0


def test_unknown_without_a_ledger_that_names_requests() -> None:
    nameless = [dataclasses.replace(line, request_id=None) for line in LEDGER]
    for ledger in (None, [], nameless):
        figures = _figures(0.9, ledger)
        assert figures == {"gateway_cache_hit_rate": None, "gateway_cache": None}


def test_an_embedding_line_under_the_request_id_is_not_the_request() -> None:
    embedding = dataclasses.replace(ledger_line("c"), api="openai-embeddings")
    assert _figures(0.9, [*LEDGER, embedding])["gateway_cache"]["hits"] == 3


def test_buckets() -> None:
    assert similarity_bucket(0.1) == "[0.00, 0.50)"
    assert similarity_bucket(0.85) == "[0.85, 0.90)"
    assert similarity_bucket(0.999) == "[0.95, 1.00)"


def test_a_content_filter_answer_is_a_block_not_a_hit() -> None:
    # A guardrail answered g with a 200 content_filter: no ledger line, yet nothing was cached.
    plan = [*PLAN, planned("g")]
    records = [*RECORDS, attempt("g", sent_s=1.0, done_s=1.01)]
    costs = {"a": 0.01, "b": 0.03, "f": 0.02}
    plain = gateway_cache_figures(group_requests(plan, records), LEDGER, costs, 0.9)
    assert plain["gateway_cache"]["hits"] == 4  # without its finish reason it looks cached
    records[-1] = dataclasses.replace(records[-1], finish_reason="content_filter")
    figures = gateway_cache_figures(group_requests(plan, records), LEDGER, costs, 0.9)
    assert figures["gateway_cache"]["hits"] == 3
    assert figures["gateway_cache_hit_rate"] == pytest.approx(3 / 6)
