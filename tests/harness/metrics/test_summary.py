from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest
from harness.contract.terms import Slo
from harness.cost import PriceBook
from harness.metrics import STAT_KEYS, SummaryInputs, ValidityLimits, summarize

Summarize = Callable[..., dict[str, Any]]


@pytest.fixture
def run(book: PriceBook) -> Summarize:
    def run_summary(
        plan: Sequence[PlannedRequest],
        records: Sequence[AttemptRecord],
        ledger: Sequence[LedgerEntry] | None = None,
        *,
        duration_s: float = 10.0,
        slo: Slo | None = None,
        client_cpu_s: float | None = 1.0,
        wall_s: float | None = 10.0,
        limits: ValidityLimits | None = None,
    ) -> dict[str, Any]:
        return summarize(
            SummaryInputs(
                run_id="run",
                duration_s=duration_s,
                plan=plan,
                records=records,
                ledger=ledger,
                prices=book,
                slo=slo or Slo(),
                client_cpu_s=client_cpu_s,
                wall_s=wall_s,
                limits=limits or ValidityLimits(),
            )
        )

    return run_summary


@pytest.fixture
def mixed(make: Any, ok: Callable[..., AttemptRecord]) -> tuple[list[Any], list[Any]]:
    """a: ok; b: failed twice; c: ok on its retry; d: dropped; e: cancelled before sending."""
    plan = [make.planned(rid) for rid in "abcde"]
    records = [
        ok("a"),
        make.attempt("b", attempt=1, outcome="http_5xx", done_s=0.1),
        make.attempt("b", attempt=2, outcome="http_5xx", done_s=0.3),
        make.attempt("c", attempt=1, outcome="http_429", done_s=0.1),
        ok("c", attempt=2),
        make.attempt("d", outcome="dropped", sent_s=None),
        make.attempt("e", outcome="cancelled", sent_s=None),
    ]
    return plan, records


def test_request_counts_and_error_rate(run: Summarize, mixed: Any) -> None:
    summary = run(*mixed)
    assert summary["schema"] == "tokenstorm.summary/2"
    assert summary["requests_planned"] == 5
    assert summary["requests_sent"] == 3
    assert summary["requests_ok"] == 2
    assert summary["requests_failed"] == 1
    assert summary["requests_dropped"] == 1
    assert summary["requests_cancelled"] == 1
    assert summary["error_rate"] == pytest.approx(1 / 3)
    assert summary["outcomes"] == {"cancelled": 1, "dropped": 1, "http_5xx": 1, "ok": 2}
    assert summary["attempt_outcomes"]["http_5xx"] == 2
    assert summary["client_attempts"] == 5
    assert summary["client_retries"] == 2
    assert summary["achieved_rps"] == pytest.approx(0.3)
    assert summary["target_rps"] == pytest.approx(0.5)


def test_summary_is_plain_json_with_every_stats_object(run: Summarize, mixed: Any) -> None:
    summary = run(*mixed)
    decoded = json.loads(json.dumps(summary, allow_nan=False))
    for key in (
        "ttft_ms",
        "ttft_corrected_ms",
        "itl_ms",
        "tpot_ms",
        "e2e_ms",
        "e2e_corrected_ms",
        "latency_with_retries_ms",
        "schedule_lag_ms",
    ):
        assert set(decoded[key]) == set(STAT_KEYS)


def test_latencies_come_from_successful_attempts_only(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    cut = make.attempt("b", outcome="stream_cut", first_token_s=0.9, done_s=9.0)
    summary = run([make.planned("a"), make.planned("b")], [ok("a"), cut])
    assert summary["ttft_ms"]["count"] == 1
    assert summary["ttft_ms"]["max"] == pytest.approx(100.0)
    assert summary["e2e_ms"]["max"] == pytest.approx(500.0)
    # The failed request's wait still shows in latency including retries.
    assert summary["latency_with_retries_ms"]["max"] == pytest.approx(9000.0)


def test_itl_pools_gaps_and_tpot_needs_two_tokens(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        ok("a", first_token_s=1.0, token_times_s=(1.25, 1.5, 1.75), completion_tokens=4),
        ok("b", first_token_s=1.0, token_times_s=(2.0,), completion_tokens=2),
        ok("c", first_token_s=1.0, token_times_s=(), completion_tokens=1, done_s=1.0),
    ]
    summary = run([make.planned(r) for r in "abc"], records)
    assert summary["itl_ms"]["count"] == 4  # three gaps of a, one of b, none of c
    assert summary["itl_ms"]["max"] == pytest.approx(1000.0)
    assert summary["tpot_ms"]["count"] == 2
    assert summary["tpot_ms"]["p50"] == pytest.approx((250.0 + 1000.0) / 2)


def test_schedule_lag_covers_every_sent_attempt(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        ok("a", scheduled_s=1.0, sent_s=1.002),
        make.attempt("b", outcome="reset", scheduled_s=2.0, sent_s=2.02, done_s=2.5),
        make.attempt("c", outcome="dropped", scheduled_s=3.0, sent_s=None),
    ]
    summary = run([make.planned(r) for r in "abc"], records)
    assert summary["schedule_lag_ms"]["count"] == 2
    assert summary["schedule_lag_ms"]["max"] == pytest.approx(20.0)


def test_retry_amplification_is_null_without_a_ledger(run: Summarize, mixed: Any) -> None:
    summary = run(*mixed)
    assert summary["retry_amplification"] is None
    assert summary["upstream_attempts"] is None
    assert summary["token_amplification"] is None
    assert summary["gateway_overhead_ms"] is None
    assert summary["cost_source"] == "client"


def test_retry_amplification_counts_upstream_attempts_of_this_run(
    run: Summarize, mixed: Any, make: Any
) -> None:
    ledger = [
        make.ledger("a"),
        make.ledger("b", outcome="http_5xx"),
        make.ledger("b", attempt=2, outcome="http_5xx"),
        make.ledger("c", outcome="http_429"),
        make.ledger("c", attempt=2),
        make.ledger("c", attempt=2, outcome="http_5xx"),  # a gateway retry
        make.ledger("x", run_id="another-run"),
    ]
    summary = run(*mixed, ledger)
    assert summary["upstream_attempts"] == 6
    assert summary["retry_amplification"] == pytest.approx(6 / 3)
    assert summary["cost_source"] == "ledger"


def test_cost_uses_the_price_book_formula(
    run: Summarize, book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    record = ok("a", prompt_tokens=1000, cached_tokens=200, completion_tokens=50)
    summary = run([make.planned("a")], [record])
    price = book.price_for("mock-small", "small-fast")
    assert price is not None and price.cache_read_usd_per_token is not None
    expected = (
        800 * price.input_usd_per_token
        + 200 * price.cache_read_usd_per_token
        + 50 * price.output_usd_per_token
    )
    assert summary["cost_usd_total"] == pytest.approx(expected)
    assert summary["cost_per_1k_requests_usd"] == pytest.approx(expected * 1000)
    assert summary["wasted_cost_usd"] == 0
    assert summary["prices"]["used"]["mock-small / small-fast"]["source"].endswith("gpt-4o-mini")
    assert summary["prices"]["snapshot"]["date"]


def test_wasted_cost_is_the_cost_of_upstream_attempts_that_delivered_nothing(
    run: Summarize, book: PriceBook, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [make.attempt("a", attempt=1, outcome="stream_cut", done_s=0.5), ok("a", attempt=2)]
    ledger = [
        make.ledger("a", attempt=1, outcome="stream_cut", prompt_tokens=300, completion_tokens=40),
        make.ledger("a", attempt=2, prompt_tokens=300, completion_tokens=90),
    ]
    summary = run([make.planned("a")], records, ledger)
    waste = book.cost_usd("mock-small", "small-fast", 300, 0, 40)
    useful = book.cost_usd("mock-small", "small-fast", 300, 0, 90)
    assert waste is not None and useful is not None
    assert summary["wasted_cost_usd"] == pytest.approx(waste)
    assert summary["cost_usd_total"] == pytest.approx(waste + useful)
    # Upstream processed 300+40 + 300+90 tokens to deliver one answer of 100 + 3 tokens.
    assert summary["token_amplification"] == pytest.approx(730 / 103)


def test_gateway_overhead_uses_correlated_attempts(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    summary = run([make.planned("a")], [ok("a")], [make.ledger("a", service_ms=450.0)])
    assert summary["gateway_overhead_ms"]["count"] == 1
    assert summary["gateway_overhead_ms"]["max"] == pytest.approx(50.0)


def test_unpriced_models_make_cost_null_and_are_named(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    record = ok("a", model="my-llama", deployment=None)
    summary = run([make.planned("a", model="my-llama")], [record])
    assert summary["cost_usd_total"] is None
    assert summary["cost_per_1k_requests_usd"] is None
    assert summary["unpriced_models"] == ["my-llama (deployment (unknown))"]
    assert any("my-llama" in note for note in summary["notes"])


def test_a_clean_run_is_valid(run: Summarize, make: Any, ok: Callable[..., AttemptRecord]) -> None:
    summary = run([make.planned("a")], [ok("a")])
    assert summary["valid"] is True
    assert summary["validity_notes"] == []


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"lag_s": 0.05}, "schedule lag"),
        ({"dropped": True}, "dropped"),
        ({"client_cpu_s": 9.5}, "CPU"),
    ],
)
def test_validity_flags(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord], change: dict[str, Any], phrase: str
) -> None:
    lag_s = change.get("lag_s", 0.0)
    plan = [make.planned("a"), make.planned("b")]
    records = [ok("a", scheduled_s=1.0, sent_s=1.0 + lag_s)]
    if change.get("dropped"):
        records.append(make.attempt("b", outcome="dropped", sent_s=None))
    else:
        records.append(ok("b"))
    summary = run(plan, records, client_cpu_s=change.get("client_cpu_s", 1.0), wall_s=10.0)
    assert summary["valid"] is False
    assert any(phrase in note for note in summary["validity_notes"])


def test_validity_limits_are_configurable(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [ok("a", scheduled_s=1.0, sent_s=1.05)]
    strict = run([make.planned("a")], records)
    lenient = run(
        [make.planned("a")], records, limits=ValidityLimits(max_schedule_lag_p99_ms=100.0)
    )
    assert strict["valid"] is False
    assert lenient["valid"] is True


def test_splits_by_tag_model_and_deployment(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    plan = [
        make.planned("a", tags={"tenant": "acme", "workload": "chat"}),
        make.planned("b", tags={"tenant": "acme", "workload": "agent"}),
        make.planned("c", model="mock-large", tags={"tenant": "globex"}),
    ]
    records = [
        ok("a"),
        make.attempt("b", outcome="http_5xx", done_s=0.2),
        ok("c", model="mock-large", deployment="large-slow"),
    ]
    summary = run(plan, records)
    acme = summary["by_tenant"]["acme"]
    assert acme["requests_sent"] == 2 and acme["requests_ok"] == 1
    assert acme["error_rate"] == pytest.approx(0.5)
    assert summary["by_tenant"]["globex"]["error_rate"] == 0
    assert set(summary["by_workload"]) == {"chat", "agent", "(none)"}
    assert set(summary["by_requested_model"]) == {"mock-small", "mock-large"}
    assert set(summary["by_upstream_deployment"]) == {"small-fast", "large-slow"}
    assert summary["by_requested_model"]["mock-large"]["ttft_ms"]["count"] == 1
    split_costs = sum(g["cost_usd_total"] for g in summary["by_requested_model"].values())
    assert split_costs == pytest.approx(summary["cost_usd_total"])
    tokens = summary["by_tenant"]["globex"]["tokens"]
    assert tokens["prompt_tokens"] == 100 and tokens["completion_tokens"] == 3


def test_slo_attainment_and_goodput(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        ok("fast"),
        ok("slow", first_token_s=1.4),
        make.attempt("failed", outcome="http_5xx", done_s=0.1),
    ]
    plan = [make.planned(r) for r in ("fast", "slow", "failed")]
    summary = run(plan, records, slo=Slo(ttft=0.2), duration_s=4.0)
    assert summary["slo_attainment"] == pytest.approx(1 / 3)
    assert summary["goodput_rps"] == pytest.approx(1 / 4)


def test_token_totals_and_cache_hit_rate(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    records = [
        ok("a", prompt_tokens=400, cached_tokens=100, completion_tokens=3),
        ok("b", prompt_tokens=600, cached_tokens=400, completion_tokens=3, usage_source="client"),
    ]
    summary = run([make.planned("a"), make.planned("b")], records, duration_s=2.0)
    assert summary["prompt_tokens_total"] == 1000
    assert summary["cached_tokens_total"] == 500
    assert summary["cache_hit_rate"] == pytest.approx(0.5)
    assert summary["output_tokens_per_s"] == pytest.approx(3.0)
    assert summary["usage_source_counts"] == {"client": 1, "server": 1}


def test_an_empty_run_summarizes_to_nulls_and_is_invalid(run: Summarize) -> None:
    summary = run([], [], None)
    assert summary["requests_sent"] == 0
    assert summary["error_rate"] is None
    assert summary["ttft_ms"]["p99"] is None
    assert summary["cost_usd_total"] == 0
    assert summary["cost_per_1k_requests_usd"] is None
    assert summary["valid"] is False
    assert math.isclose(summary["client_cpu_share"], 0.1)


def test_target_rate_counts_only_turns_planned_inside_the_steady_phase(
    run: Summarize, make: Any, ok: Callable[..., AttemptRecord]
) -> None:
    plan = [make.planned("a", offset_s=1.0), make.planned("late", offset_s=12.0)]
    records = [ok("a"), make.attempt("late", outcome="cancelled", sent_s=None)]
    summary = run(plan, records, duration_s=10.0)
    assert summary["requests_planned"] == 2
    assert summary["target_rps"] == pytest.approx(0.1)
    assert summary["requests_cancelled"] == 1


def test_a_mock_upstream_that_fell_behind_makes_the_run_invalid(
    run: Summarize, mixed: Any, make: Any
) -> None:
    # The ledger's lag is the mock's own delay: its p99 over this run's attempts, against
    # max_upstream_lag_p99_ms (5 ms by default); lines without one (a proxy) do not count.
    def lines(lags: list[float | None]) -> list[LedgerEntry]:
        return [dataclasses.replace(make.ledger(f"r{i}"), lag_ms=lag) for i, lag in enumerate(lags)]

    on_time = run(*mixed, lines([0.0] * 99 + [None]))
    assert on_time["upstream_lag_ms"]["p99"] == 0.0 and on_time["upstream_lag_ms"]["count"] == 99
    assert not any("upstream lag" in note for note in on_time["validity_notes"])
    behind = run(*mixed, lines([0.0] * 90 + [40.0] * 10))
    assert behind["upstream_lag_ms"]["p99"] == pytest.approx(40.0)
    assert behind["valid"] is False
    assert any("upstream lag p99 40.0 ms exceeds 5 ms" in n for n in behind["validity_notes"])
    assert run(*mixed, lines([None] * 3))["upstream_lag_ms"] is None
    refused = dataclasses.replace(
        make.ledger("r", outcome="http_429"), completion_tokens=0, lag_ms=0.0
    )
    assert run(*mixed, [*lines([9.0]), refused])["upstream_lag_ms"]["count"] == 1
    assert run(*mixed)["upstream_lag_ms"] is None
    relaxed = run(*mixed, lines([40.0] * 3), limits=ValidityLimits(max_upstream_lag_p99_ms=50))
    assert not any("upstream lag" in note for note in relaxed["validity_notes"])
