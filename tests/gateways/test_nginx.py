"""``tokenstorm run`` through a real nginx to the mock: SSE passes through with TTFT and ITL
measured, records and ledger correlate by the run-id header nginx forwards, and the retry
amplification the run computes from the ledger matches nginx's documented retry rules."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import GatewayRuns, Nginx, Upstream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_streams_pass_through_and_correlate_by_run_id(
    nginx: Nginx, upstream: Upstream, runs: GatewayRuns
) -> None:
    upstream.set_faults()
    run = runs.run("nginx-ok", nginx.retry_url, upstream.ledger_url)
    summary, records, ledger = run.summary, run.records, run.ledger
    assert summary["requests_sent"] >= 10
    assert summary["requests_ok"] == summary["requests_sent"]
    assert {r.outcome for r in records} == {"ok"}
    # Streamed token by token through the proxy: a first token, then gaps between tokens.
    assert summary["ttft_ms"]["count"] == summary["requests_ok"]
    assert summary["itl_ms"]["count"] > 0
    assert all(r.usage_source == "server" for r in records)
    # nginx forwards the x-tokenstorm-* headers: every ledger line names this run and one of
    # its attempts, so correlation is per request, not aggregate.
    assert ledger and all(e.run_id == "nginx-ok" for e in ledger)
    assert {(e.request_id, e.attempt) for e in ledger} == {
        (r.request_id, r.attempt) for r in records
    }
    assert summary["retry_amplification"] == 1.0
    assert summary["gateway_overhead_ms"] is not None
    assert summary["gateway_overhead_ms"]["count"] == len(records)
    assert summary["cost_source"] == "ledger"
    assert summary["cost_usd_total"] is not None and summary["cost_usd_total"] > 0
    assert "ledger_note" not in run.manifest
    # Both replicas served: nginx balanced the two servers.
    assert len({e.deployment for e in ledger}) == 2


@pytest.mark.parametrize(("which", "expected"), [("retry", 2.0), ("default", 1.0)])
def test_retry_amplification_on_500_follows_nginx_rules(
    nginx: Nginx, upstream: Upstream, runs: GatewayRuns, which: str, expected: float
) -> None:
    """Every upstream attempt answers 500. With ``non_idempotent`` nginx tries each of its two
    servers once (2 upstream attempts per request); without it, a sent POST is never re-sent."""
    upstream.set_faults(http_500=1.0)
    try:
        url = nginx.retry_url if which == "retry" else nginx.default_url
        run_id = f"nginx-500-{which}"
        run = runs.run(run_id, url, upstream.ledger_url, rate_rps=5.0)
    finally:
        upstream.set_faults()
    summary, records, ledger = run.summary, run.records, run.ledger
    assert summary["requests_sent"] >= 5
    assert summary["requests_ok"] == 0
    assert Counter(r.status_code for r in records) == {500: len(records)}
    assert summary["client_attempts"] == summary["requests_sent"]  # client retries are off
    assert summary["upstream_attempts"] == len(ledger)
    assert summary["retry_amplification"] == expected
    per_attempt = Counter((e.request_id, e.attempt) for e in ledger)
    assert set(per_attempt.values()) == {int(expected)}
    if which == "retry":  # one try per server, never the same one twice
        by_request: dict[str | None, set[str]] = {}
        for entry in ledger:
            by_request.setdefault(entry.request_id, set()).add(entry.deployment)
        assert all(len(deployments) == 2 for deployments in by_request.values())
