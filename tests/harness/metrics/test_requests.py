from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.contract.records import AttemptRecord
from harness.metrics.requests import group_requests


def test_attempts_are_grouped_and_ordered_by_attempt_number(
    make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        ok("a", attempt=2, scheduled_s=2.0, sent_s=2.0),
        make.attempt("a", attempt=1, outcome="http_429", scheduled_s=0.5, sent_s=0.5, done_s=0.6),
    ]
    (request,) = group_requests([make.planned("a")], records)
    assert [a.attempt for a in request.attempts] == [1, 2]
    assert request.is_ok
    assert request.first_scheduled_s == 0.5
    # From the first attempt's intended time (0.5) to the final end (ok() ends at 1.5).
    assert request.latency_with_retries_s() == 1.0


def test_final_outcome_is_the_last_sent_attempt(make: Any) -> None:
    records = [
        make.attempt("a", attempt=1, outcome="http_5xx", done_s=0.1),
        make.attempt("a", attempt=2, outcome="cancelled", sent_s=None),
    ]
    (request,) = group_requests([make.planned("a")], records)
    assert request.was_sent
    assert request.outcome == "http_5xx"
    assert not request.is_ok


def test_unsent_and_unrecorded_requests(make: Any) -> None:
    plan = [make.planned("dropped"), make.planned("missing")]
    records = [
        make.attempt("dropped", outcome="dropped", sent_s=None),
        make.attempt("extra", outcome="ok", done_s=1.0),
    ]
    requests = group_requests(plan, records)
    assert [r.request_id for r in requests] == ["dropped", "missing", "extra"]
    dropped, missing, extra = requests
    assert dropped.outcome == "dropped" and not dropped.was_sent
    assert missing.outcome == "cancelled" and missing.attempts == ()
    assert extra.planned is None and extra.was_sent


def test_tags_and_model_come_from_the_plan_when_the_record_lacks_them(make: Any) -> None:
    plan = [make.planned("a", model="mock-large", tags={"tenant": "acme"})]
    records = [make.attempt("a", outcome="connect_error", model=None, deployment=None)]
    (request,) = group_requests(plan, records)
    assert request.model == "mock-large"
    assert request.deployment == "(unknown)"
    assert request.tags["tenant"] == "acme"
