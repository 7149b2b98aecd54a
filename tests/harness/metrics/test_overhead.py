"""Gateway overhead is measured against the model's own ledger, and a null one says why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.contract.records import AttemptRecord, LedgerEntry
from harness.contract.terms import Slo
from harness.cost import PriceBook
from harness.metrics import SummaryInputs, summarize


def _summary(
    book: PriceBook, plan: Any, records: Any, ledger: list[LedgerEntry], origin: str
) -> dict[str, Any]:
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
            ledger_url="http://127.0.0.1:8100/tokenstorm/ledger",
            ledger_origin=origin,
        )
    )


def _overhead_notes(summary: dict[str, Any]) -> list[str]:
    return [n for n in summary["notes"] if n.startswith("gateway overhead")]


def test_a_mock_ledger_gives_the_overhead_and_says_where_it_came_from(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    ledger = [make.ledger("a", service_ms=440.0)]
    summary = _summary(book, [make.planned("a")], [ok("a")], ledger, "option")
    assert summary["gateway_overhead_ms"]["p50"] == pytest.approx(60.0)
    assert summary["ledger_source"] == {
        "url": "http://127.0.0.1:8100/tokenstorm/ledger",
        "origin": "option",
        "upstream": "mock",
    }
    assert _overhead_notes(summary) == []


def test_a_proxy_ledger_gives_no_overhead_and_a_note(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    # The proxy's service time includes the upstream's: E2E minus it would read ~0.
    ledger = [make.ledger("a", service_ms=499.0, lag_ms=None)]
    summary = _summary(book, [make.planned("a")], [ok("a")], ledger, "target")
    assert summary["gateway_overhead_ms"] is None
    assert summary["ledger_source"]["upstream"] == "proxy"
    [note] = _overhead_notes(summary)
    assert "fault proxy" in note and "--ledger" in note


def test_no_successful_attempt_gives_no_overhead_and_a_note(book: PriceBook, make: Any) -> None:
    records = [make.attempt("a", outcome="http_5xx", done_s=0.1)]
    ledger = [make.ledger("a", outcome="http_5xx", completion_tokens=0)]
    summary = _summary(book, [make.planned("a")], records, ledger, "embedded")
    assert summary["gateway_overhead_ms"] is None
    [note] = _overhead_notes(summary)
    assert "no attempt succeeded" in note


def test_an_empty_ledger_gives_no_overhead_and_a_note(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    summary = _summary(book, [make.planned("a")], [ok("a")], [], "target")
    assert summary["gateway_overhead_ms"] is None
    assert summary["ledger_source"]["upstream"] == "unknown"
    [note] = _overhead_notes(summary)
    assert "no line of this run" in note
