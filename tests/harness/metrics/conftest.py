"""Builders for hand-made plans, attempt records and ledger lines (no clock, no sockets)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest
from harness.cost import PriceBook, load_price_book


def planned(
    request_id: str,
    *,
    model: str = "mock-small",
    offset_s: float = 0.0,
    tags: dict[str, str] | None = None,
) -> PlannedRequest:
    return PlannedRequest(
        request_id=request_id,
        session_id=f"s-{request_id}",
        turn=1,
        offset_s=offset_s,
        think_s=0.0,
        prompt_tokens=100,
        max_tokens=50,
        model=model,
        api="openai-chat",
        stream=True,
        messages=(),
        tags=tags or {},
    )


def attempt(
    request_id: str,
    *,
    attempt: int = 1,
    outcome: str = "ok",
    scheduled_s: float = 0.0,
    sent_s: float | None = 0.0,
    first_token_s: float | None = None,
    token_times_s: tuple[float, ...] = (),
    done_s: float | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cached_tokens: int | None = None,
    model: str | None = "mock-small",
    deployment: str | None = "small-fast",
    tags: dict[str, str] | None = None,
    fault: str | None = None,
    usage_source: str | None = None,
) -> AttemptRecord:
    return AttemptRecord(
        request_id=request_id,
        session_id=f"s-{request_id}",
        turn=1,
        attempt=attempt,
        scheduled_s=scheduled_s,
        sent_s=sent_s,
        first_byte_s=first_token_s,
        first_token_s=first_token_s,
        done_s=done_s,
        status_code=200 if outcome == "ok" else None,
        outcome=outcome,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=cached_tokens,
        usage_source=usage_source,
        model=model,
        deployment=deployment,
        error_detail=None,
        token_times_s=token_times_s,
        tags=tags or {},
        fault=fault,
    )


def ledger_line(
    request_id: str | None,
    *,
    attempt: int | None = 1,
    outcome: str = "ok",
    received_s: float = 0.0,
    prompt_tokens: int = 100,
    cached_tokens: int = 0,
    completion_tokens: int = 10,
    service_ms: float = 100.0,
    model: str = "mock-small",
    deployment: str = "small-fast",
    run_id: str | None = "run",
    lag_ms: float | None = 0.0,
) -> LedgerEntry:
    """A line as a tokenstorm mock writes it (``lag_ms`` set); ``lag_ms=None`` for the proxy's."""
    return LedgerEntry(
        run_id=run_id,
        request_id=request_id,
        attempt=attempt,
        received_s=received_s,
        deployment=deployment,
        model=model,
        api="openai-chat",
        stream=True,
        prompt_tokens=prompt_tokens,
        cached_tokens=cached_tokens,
        completion_tokens=completion_tokens,
        fault=None if outcome == "ok" else outcome,
        outcome=outcome,
        status_code=200 if outcome == "ok" else 500,
        service_ms=service_ms,
        lag_ms=lag_ms,
    )


@dataclass(frozen=True)
class Builders:
    planned: Callable[..., PlannedRequest]
    attempt: Callable[..., AttemptRecord]
    ledger: Callable[..., LedgerEntry]


@pytest.fixture
def make() -> Builders:
    return Builders(planned=planned, attempt=attempt, ledger=ledger_line)


def ok_attempt(request_id: str, **overrides: Any) -> AttemptRecord:
    """A successful 3-token stream sent at 1.0 s: TTFT 0.1 s, E2E 0.5 s."""
    values: dict[str, Any] = dict(
        scheduled_s=1.0,
        sent_s=1.0,
        first_token_s=1.1,
        token_times_s=(1.2, 1.4),
        done_s=1.5,
        prompt_tokens=100,
        completion_tokens=3,
        cached_tokens=0,
        usage_source="server",
    )
    values.update(overrides)
    return attempt(request_id, **values)


@pytest.fixture
def ok() -> Callable[..., AttemptRecord]:
    return ok_attempt


@pytest.fixture(scope="session")
def book() -> PriceBook:
    return load_price_book({})
