from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from harness.contract.records import AttemptRecord
from harness.metrics.upstream import correlate, entries_of_run, gateway_overhead_s


def test_only_this_runs_ledger_lines_count(make: Any) -> None:
    lines = [
        make.ledger("a", run_id="run"),
        make.ledger("b", run_id="other"),
        make.ledger("c", run_id=None),
    ]
    assert [e.request_id for e in entries_of_run(lines, "run")] == ["a", "c"]


def test_upstream_retries_of_one_client_attempt_are_waste_except_the_delivering_one(
    make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    lines = [
        make.ledger("a", outcome="http_5xx", received_s=1.0),
        make.ledger("a", outcome="ok", received_s=1.1),
        make.ledger("a", outcome="ok", received_s=1.2),
    ]  # a hedged duplicate
    result = correlate(lines, [ok("a")])
    assert result.delivered == (False, True, False)
    assert len(result.pairs) == 1 and result.pairs[0][1].received_s == 1.1


def test_an_upstream_success_the_client_never_received_is_waste(make: Any) -> None:
    client = [make.attempt("a", outcome="timeout_stream", done_s=5.0)]
    result = correlate([make.ledger("a", outcome="ok")], client)
    assert result.delivered == (False,)
    assert gateway_overhead_s(result) is None


def test_without_an_attempt_number_the_request_id_alone_matches(
    make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    client = [make.attempt("a", attempt=1, outcome="http_429", done_s=1.0), ok("a", attempt=2)]
    lines = [
        make.ledger("a", attempt=None, outcome="http_429", received_s=0.1),
        make.ledger("a", attempt=None, outcome="ok", received_s=1.2),
    ]
    result = correlate(lines, client)
    assert result.delivered == (False, True)
    assert result.pairs[0][0].attempt == 2


def test_gateway_overhead_is_client_e2e_minus_upstream_service_time(
    make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    record = ok("a")  # E2E 0.5 s
    result = correlate([make.ledger("a", service_ms=420.0)], [record])
    overhead = gateway_overhead_s(result)
    assert overhead is not None and len(overhead) == 1
    assert math.isclose(overhead[0], 0.5 - 0.420)


def test_lines_without_ids_cannot_be_correlated(
    make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    result = correlate([make.ledger(None, attempt=None)], [ok("a")])
    assert not result.possible
    assert result.delivered == (True,)
    assert gateway_overhead_s(result) is None
