"""The records the session flow writes: an attempt that got an answer (its client's clock
readings made run-clock), one cancelled in flight, and a planned turn never sent."""

from __future__ import annotations

from harness.client.exchange import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest


def attempt_record(
    request: PlannedRequest,
    attempt: int,
    scheduled_s: float,
    result: AttemptResult,
    prompt_tokens: int,
    start: float,
) -> AttemptRecord:
    """The record of one attempt; ``result``'s clock readings made run-clock by ``start``
    (its fields in the order the attempt learns them)."""
    return AttemptRecord(
        request_id=request.request_id,
        session_id=request.session_id,
        turn=request.turn,
        attempt=attempt,
        scheduled_s=_r(scheduled_s),
        planned_prompt_tokens=prompt_tokens,
        api=request.api,
        tags=request.tags,
        model=result.model,
        sent_s=_r(result.sent_s - start),
        status_code=result.status_code,
        deployment=result.deployment,
        retry_after_s=result.retry_after_s,
        fault=result.fault,
        first_byte_s=_opt(result.first_byte_s, start),
        prompt_tokens=result.prompt_tokens,
        cached_tokens=result.cached_tokens,
        cache_write_tokens=result.cache_write_tokens,
        first_token_s=_opt(result.first_token_s, start),
        token_times_s=tuple(_r(t - start) for t in result.token_times_s),
        completion_tokens=result.completion_tokens,
        usage_source=result.usage_source,
        done_s=_r(result.done_s - start),
        outcome=result.outcome.value,
        error_detail=result.error_detail,
        finish_reason=result.finish_reason,
    )


def _r(value: float) -> float:
    return round(value, 6)


def _opt(value: float | None, start: float) -> float | None:
    return None if value is None else round(value - start, 6)


def cancelled_record(
    request: PlannedRequest, attempt: int, scheduled_s: float, sent_s: float, now_s: float
) -> AttemptRecord:
    """An attempt in flight when the run's deadline (or a stop's grace) cut it."""
    why = "cancelled in flight: run deadline or stop"
    return _no_answer(request, attempt, Outcome.CANCELLED, why, scheduled_s, sent_s, now_s)


def unsent_record(
    request: PlannedRequest, outcome: Outcome, why: str, scheduled_s: float
) -> AttemptRecord:
    """A planned turn never sent (``cancelled`` or ``dropped``), ``why`` in its detail."""
    return _no_answer(request, 1, outcome, why, scheduled_s, None, None)


def _no_answer(
    request: PlannedRequest,
    attempt: int,
    outcome: Outcome,
    why: str,
    scheduled_s: float,
    sent_s: float | None,
    done_s: float | None,
) -> AttemptRecord:
    return AttemptRecord(
        request_id=request.request_id,
        session_id=request.session_id,
        turn=request.turn,
        attempt=attempt,
        scheduled_s=round(scheduled_s, 6),
        outcome=outcome.value,
        error_detail=why,
        model=request.model,
        api=request.api,
        sent_s=None if sent_s is None else _r(sent_s),
        first_byte_s=None,
        first_token_s=None,
        status_code=None,
        deployment=None,
        token_times_s=(),
        prompt_tokens=None,
        completion_tokens=None,
        cached_tokens=None,
        usage_source=None,
        done_s=None if done_s is None else _r(done_s),
        tags=request.tags,
    )
