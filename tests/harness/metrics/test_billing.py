"""What an attempt is billed for, by outcome, and what that does to the summary's cost figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord
from harness.contract.terms import Slo
from harness.cost import NOT_BILLED, BilledTokens, PriceBook, billed_tokens
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


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome.HTTP_429,
        Outcome.HTTP_4XX,
        Outcome.HTTP_5XX,
        Outcome.CONNECT_ERROR,
        Outcome.TIMEOUT_CONNECT,
        Outcome.TIMEOUT_FIRST_TOKEN,
        Outcome.CANCELLED,
        Outcome.DROPPED,
    ],
)
def test_an_attempt_that_generated_nothing_is_not_billed(outcome: Outcome) -> None:
    # The mock's ledger keeps the parsed prompt of a refused attempt: it must not be billed.
    assert billed_tokens(outcome.value, 300, 100, 50, 0) == NOT_BILLED


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome.STREAM_CUT,
        Outcome.STREAM_ERROR,
        Outcome.RESET,
        Outcome.TIMEOUT_STREAM,
        Outcome.PROTOCOL_ERROR,
        Outcome.CANCELLED,
    ],
)
def test_an_attempt_cut_after_its_first_token_bills_prompt_and_tokens_generated(
    outcome: Outcome,
) -> None:
    assert billed_tokens(outcome.value, 300, 100, 50, 7) == BilledTokens(300, 100, 50, 7)


def test_a_successful_answer_bills_its_prompt_even_without_completion_tokens() -> None:
    assert billed_tokens("ok", 40, 0, 0, 0) == BilledTokens(40, 0, 0, 0)


def test_refused_ledger_attempts_cost_nothing_and_are_no_waste(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [make.attempt("a", attempt=1, outcome="http_429", done_s=0.1), ok("a", attempt=2)]
    ledger = [
        make.ledger("a", attempt=1, outcome="http_429", prompt_tokens=300, completion_tokens=0),
        make.ledger("a", attempt=2, prompt_tokens=300, completion_tokens=90),
    ]
    summary = _summary(book, [make.planned("a")], records, ledger)
    useful = book.cost_usd("mock-small", "small-fast", 300, 0, 90)
    assert useful is not None
    assert summary["cost_usd_total"] == pytest.approx(useful)
    assert summary["wasted_cost_usd"] == 0
    # The refusal still counts as an upstream attempt; it just carries no billed tokens.
    assert summary["upstream_attempts"] == 2


def test_client_side_cost_bills_a_cut_stream_but_not_a_refusal(
    book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        make.attempt("a", attempt=1, outcome="http_5xx", done_s=0.1, prompt_tokens=100),
        make.attempt(
            "a",
            attempt=2,
            outcome="stream_cut",
            done_s=0.5,
            first_token_s=0.2,
            prompt_tokens=100,
            completion_tokens=4,
        ),
        ok("a", attempt=3),
    ]
    summary = _summary(book, [make.planned("a")], records)
    cut = book.cost_usd("mock-small", "small-fast", 100, 0, 4)
    answer = book.cost_usd("mock-small", "small-fast", 100, 0, 3)
    assert cut is not None and answer is not None
    assert summary["cost_source"] == "client"
    assert summary["wasted_cost_usd"] == pytest.approx(cut)
    assert summary["cost_usd_total"] == pytest.approx(cut + answer)
