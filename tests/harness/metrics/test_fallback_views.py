"""After a gateway's fallback: the client's view per requested model and the upstream's view per
deployment each tell their own part, and neither shows a tried model as idle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.contract.records import AttemptRecord, LedgerEntry
from harness.contract.terms import Slo
from harness.cost import PriceBook
from harness.metrics import SummaryInputs, summarize
from harness.report.context import table_context
from harness.report.markdown import render_markdown

REQUESTS = ("a", "b", "c")


def _fallback_ledger(make: Any) -> list[LedgerEntry]:
    """Per request, the gateway's primary refused 3 times, then its fallback answered.
    The gateway dropped the attempt header; the prompt tag kept the request id."""
    ledger: list[LedgerEntry] = []
    for index, request_id in enumerate(REQUESTS):
        for retry in range(3):
            ledger.append(
                make.ledger(
                    request_id,
                    attempt=None,
                    outcome="http_429",
                    received_s=index + 0.1 * retry,
                    completion_tokens=0,
                    model="mock-small",
                    deployment="small-fast",
                )
            )
        ledger.append(
            make.ledger(
                request_id,
                attempt=None,
                received_s=index + 0.5,
                model="mock-large",
                deployment="large-slow",
            )
        )
    return ledger


@pytest.fixture
def summary(book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]) -> dict[str, Any]:
    plan = [make.planned(r, model="primary") for r in REQUESTS]
    # The gateway answers with the fallback's model name and drops the deployment header.
    records = [ok(r, model="mock-large", deployment=None) for r in REQUESTS]
    return summarize(
        SummaryInputs(
            run_id="run",
            duration_s=10.0,
            plan=plan,
            records=records,
            ledger=_fallback_ledger(make),
            prices=book,
            slo=Slo(),
            client_cpu_s=1.0,
            wall_s=10.0,
        )
    )


def test_the_client_view_groups_requests_by_the_model_asked_for(
    summary: dict[str, Any], book: PriceBook
) -> None:
    views = summary["by_requested_model"]
    assert set(views) == {"primary"}
    primary = views["primary"]
    assert primary["requests_sent"] == 3 and primary["requests_ok"] == 3
    assert primary["answered_by_model"] == {"mock-large": 3}
    answer = book.cost_usd("mock-large", "large-slow", 100, 0, 10)
    assert answer is not None
    assert primary["cost_usd_total"] == pytest.approx(3 * answer)
    assert "by_model" not in summary and "by_deployment" not in summary


def test_the_upstream_view_shows_every_deployment_tried(summary: dict[str, Any]) -> None:
    upstream = summary["by_upstream_deployment"]
    assert set(upstream) == {"small-fast", "large-slow"}
    primary = upstream["small-fast"]
    assert primary["attempts"] == 9
    assert primary["attempts_ok"] == 0 and primary["delivered"] == 0
    assert primary["outcomes"] == {"http_429": 9}
    assert primary["models"] == {"mock-small": 9}
    assert primary["cost_usd_total"] == 0 and primary["wasted_cost_usd"] == 0
    fallback = upstream["large-slow"]
    assert (fallback["attempts"], fallback["attempts_ok"], fallback["delivered"]) == (3, 3, 3)
    assert fallback["tokens"]["completion_tokens"] == 30


def test_the_reports_label_both_views(summary: dict[str, Any]) -> None:
    md = render_markdown(table_context(summary, {"run_id": "run"}))
    assert "By requested model (client's view)" in md
    assert "upstream deployment" in md and "from its ledger" in md
    assert "| small-fast | mock-small 9 | 9 | 0 | 0 | http_429 9 |" in md
