"""Figures that cannot be computed are null in the summary, never a 0 that reads as measured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.contract.records import AttemptRecord
from harness.contract.terms import Slo
from harness.cost import PriceBook
from harness.metrics import SummaryInputs, summarize


def _summary(book: PriceBook, plan: Any, records: Any, ledger: Any = None) -> dict[str, Any]:
    return summarize(
        SummaryInputs(
            run_id="run",
            duration_s=10.0,
            plan=plan,
            records=records,
            ledger=ledger,
            prices=book,
            slo=Slo(),
            client_cpu_s=1.0,
            wall_s=10.0,
        )
    )


def test_waste_of_an_unpriced_run_is_unknown_not_zero(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    # The failures bill no token, so the old code summed them to $0 beside a null total.
    records = [
        make.attempt("a", outcome="http_5xx", done_s=0.1, model="my-llama", deployment=None),
        ok("a", attempt=2, model="my-llama", deployment=None),
    ]
    summary = _summary(book, [make.planned("a", model="my-llama")], records)
    assert summary["cost_usd_total"] is None
    assert summary["wasted_cost_usd"] is None
    assert summary["cost_per_1k_requests_usd"] is None


def test_unpriced_waste_through_a_ledger_is_unknown_too(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [make.attempt("a", outcome="http_429", done_s=0.1), ok("a", attempt=2)]
    ledger = [
        make.ledger("a", attempt=1, outcome="http_429", completion_tokens=0, model="their-llm"),
        make.ledger("a", attempt=2, model="their-llm", deployment="pool-1"),
    ]
    summary = _summary(book, [make.planned("a")], records, ledger)
    assert summary["cost_usd_total"] is None
    assert summary["wasted_cost_usd"] is None


def test_a_priced_run_without_waste_still_says_zero(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    summary = _summary(book, [make.planned("a")], [ok("a")])
    assert summary["wasted_cost_usd"] == 0


def test_cache_hit_rate_is_unknown_when_no_usage_said_how_much_was_cached(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    # Usage counted by the client (the server sent none): no cached count at all.
    records = [ok("a", cached_tokens=None, usage_source="client")]
    summary = _summary(book, [make.planned("a")], records)
    assert summary["prompt_tokens_total"] == 100
    assert summary["cached_tokens_total"] is None
    assert summary["cache_hit_rate"] is None
    measured = _summary(book, [make.planned("a")], [ok("a", cached_tokens=0)])
    assert measured["cached_tokens_total"] == 0 and measured["cache_hit_rate"] == 0
