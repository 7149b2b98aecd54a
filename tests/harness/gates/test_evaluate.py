"""Verdicts: crafted summaries and hand-made runs in, each verdict and exit code checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from harness.gates import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_PASS,
    GateReport,
    Verdict,
    evaluate,
    parse_budget,
)
from harness.metrics.percentiles import quantile
from harness.stats.run_data import RunData

Summary = Callable[..., dict[str, Any]]
MakeRun = Callable[..., RunData]

THRESHOLDS = """
[thresholds]
"ttft_ms" = ["p(99) < 800", "p(50) < 300"]
"e2e_ms" = ["p(99) < 4000"]
"retry_amplification" = ["value <= 1.3"]
"cost_per_1k_requests_usd" = ["value <= 0.40"]
"error_rate" = ["value < 0.01"]
"""


def _gate(
    budget: str, summary: dict[str, Any], baseline: dict[str, Any] | None = None
) -> GateReport:
    before = None if baseline is None else RunData("base", baseline)
    return evaluate(parse_budget(budget), RunData("run", summary), before, np.random.default_rng(1))


def _verdicts(report: GateReport, section: str) -> list[Verdict]:
    return [r.verdict for r in report.results if r.section == section]


def test_a_healthy_run_passes(summary_of: Summary) -> None:
    report = _gate(THRESHOLDS, summary_of())
    assert report.verdict == Verdict.PASS and report.exit_code == EXIT_PASS
    assert set(_verdicts(report, "thresholds")) == {Verdict.PASS}
    ttft = next(r for r in report.results if r.expression == "p(99) < 800")
    assert ttft.observed == summary_of()["ttft_ms"]["p99"] and ttft.limit == 800.0


@pytest.mark.parametrize(
    ("override", "failing"),
    [
        ({"ttft_ms": {"p50": 200.0, "p99": 801.0, "count": 1000}}, "p(99) < 800"),
        ({"ttft_ms": {"p50": 300.0, "p99": 700.0, "count": 1000}}, "p(50) < 300"),
        ({"retry_amplification": 1.31}, "value <= 1.3"),
        ({"cost_per_1k_requests_usd": 0.41}, "value <= 0.40"),
        ({"error_rate": 0.01}, "value < 0.01"),
    ],
)
def test_one_breach_fails_the_run(
    summary_of: Summary, override: dict[str, Any], failing: str
) -> None:
    report = _gate(THRESHOLDS, summary_of(**override))
    assert report.verdict == Verdict.FAIL and report.exit_code == EXIT_FAIL
    failed = [r.expression for r in report.results if r.verdict == Verdict.FAIL]
    assert failed == [failing]


def test_units_in_the_budget_are_converted(summary_of: Summary) -> None:
    assert _gate('[thresholds]\n"e2e_ms" = "p(99) < 3.5s"', summary_of()).verdict == Verdict.PASS
    assert _gate('[thresholds]\n"e2e_ms" = "p(99) < 2.5s"', summary_of()).verdict == Verdict.FAIL
    assert _gate('[thresholds]\n"error_rate" = "rate < 0.4%"', summary_of()).verdict == Verdict.FAIL


@pytest.mark.parametrize(
    "override",
    [
        {"valid": False, "validity_notes": ["schedule lag p99 50 ms exceeds 10 ms"]},
        {"schedule_lag_ms": {"p99": 10.5}},
        {"requests_dropped": 3},
        {"client_cpu_share": 0.95},
    ],
)
def test_an_invalid_run_is_inconclusive_even_when_a_check_fails(
    summary_of: Summary, override: dict[str, Any]
) -> None:
    summary = summary_of(**override, error_rate=0.5)
    report = _gate(THRESHOLDS, summary)
    assert report.verdict == Verdict.INCONCLUSIVE and report.exit_code == EXIT_INCONCLUSIVE
    assert Verdict.INCONCLUSIVE in _verdicts(report, "validity")
    assert Verdict.FAIL in _verdicts(report, "thresholds")  # still shown


def test_budget_validity_limits_tighten_the_runs_own(summary_of: Summary) -> None:
    budget = THRESHOLDS + "[validity]\nmax_schedule_lag_p99_ms = 0.5\n"
    report = _gate(budget, summary_of())
    assert report.verdict == Verdict.INCONCLUSIVE
    lag = next(r for r in report.results if r.metric == "schedule_lag_ms")
    assert lag.limit == 0.5 and lag.verdict == Verdict.INCONCLUSIVE


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        ('"retry_amplification" = "value <= 1.3"', "null in the summary"),
        ('"ttft_ms" = "p(75) < 800"', "needs records.jsonl"),
        ('"ttft_ms" = "min < 800"', "needs records.jsonl"),
        ('"ttft_ms{model=mock-large}" = "p(99) < 800"', "need records.jsonl"),
    ],
)
def test_a_figure_that_cannot_be_measured_is_inconclusive_never_pass(
    summary_of: Summary, budget: str, reason: str
) -> None:
    report = _gate("[thresholds]\n" + budget, summary_of(retry_amplification=None))
    row = report.results[-1]
    assert row.verdict == Verdict.INCONCLUSIVE and reason in row.detail
    assert report.exit_code == EXIT_INCONCLUSIVE


def test_too_few_samples_is_inconclusive(summary_of: Summary) -> None:
    budget = '[thresholds]\n"ttft_ms" = "p(99) < 800"\n[validity]\nmin_samples = 1001\n'
    report = _gate(budget, summary_of())
    assert report.verdict == Verdict.INCONCLUSIVE
    assert "only 1000 samples" in report.results[-1].detail


def test_count_checks_hold_with_zero_samples(summary_of: Summary) -> None:
    budget = '[thresholds]\n"requests_dropped" = "count < 1"\n'
    assert _gate(budget, summary_of()).verdict == Verdict.PASS
    assert (
        _gate(
            budget, summary_of(requests_dropped=2, validity_limits={"max_dropped_requests": 5})
        ).verdict
        == Verdict.FAIL
    )


def test_a_check_that_is_not_strict_reports_without_failing(summary_of: Summary) -> None:
    budget = '[thresholds]\n"error_rate" = [{ threshold = "rate < 0.001", strict = false }]\n'
    report = _gate(budget, summary_of())
    assert report.results[-1].verdict == Verdict.FAIL and report.verdict == Verdict.PASS


def test_regression_without_baseline_is_skipped(summary_of: Summary) -> None:
    report = _gate('[regression]\n"ttft_ms" = "p(99) <= baseline * 1.1 + 25"', summary_of())
    assert _verdicts(report, "regression") == [Verdict.SKIPPED]
    assert report.verdict == Verdict.PASS


def test_regression_on_summaries_alone_compares_as_written(summary_of: Summary) -> None:
    budget = '[regression]\n"ttft_ms" = "p(99) <= baseline * 1.10 + 25"'
    base = summary_of()
    same = _gate(budget, summary_of(), base)
    assert same.verdict == Verdict.PASS
    row = same.results[-1]
    assert row.baseline == base["ttft_ms"]["p99"]
    assert row.limit == pytest.approx(base["ttft_ms"]["p99"] * 1.1 + 25)
    worse = _gate(budget, summary_of(ttft_ms={"p99": 1000.0, "count": 1000}), base)
    assert worse.verdict == Verdict.FAIL and "no per-sample data" in worse.results[-1].detail


def _requests(req: Any, n: int, ttft_s: float, e2e_s: float, **kw: Any) -> list[Any]:
    # spread latencies a little so percentiles differ from the mean
    return [
        req(
            ttft_s=ttft_s * (1 + (i % 10) / 20),
            e2e_s=e2e_s * (1 + (i % 7) / 10),
            at_s=1.0 + i * 0.05,
            **kw,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(
    "metric",
    [
        "ttft_ms",
        "ttft_corrected_ms",
        "itl_ms",
        "tpot_ms",
        "e2e_ms",
        "e2e_corrected_ms",
        "latency_with_retries_ms",
        "schedule_lag_ms",
    ],
)
def test_trend_samples_agree_with_the_summary(make_run: MakeRun, req: Any, metric: str) -> None:
    run = make_run(_requests(req, 200, 0.1, 0.6))
    for agg, key in (
        ("p(50)", "p50"),
        ("p(99)", "p99"),
        ("p(99.9)", "p999"),
        ("max", "max"),
        ("avg", "mean"),
    ):
        report = evaluate(
            parse_budget(f'[thresholds]\n"{metric}" = "{agg} < 1e9"'),
            run,
            None,
            np.random.default_rng(0),
        )
        assert report.results[-1].observed == pytest.approx(run.summary[metric][key]), (agg, key)


def test_model_filter_recomputes_over_that_models_requests(make_run: MakeRun, req: Any) -> None:
    small = _requests(req, 100, 0.05, 0.3, model="mock-small")
    large = _requests(req, 60, 0.2, 2.0, model="mock-large")
    run = make_run(small + large)
    budget = parse_budget(
        '[thresholds]\n"e2e_ms{model=mock-large}" = "p(99) < 2500"\n'
        '"e2e_ms{model!=mock-large}" = "p(99) < 2500"\n'
        '"requests_sent{model=mock-large}" = "count == 60"\n'
    )
    report = evaluate(budget, run, None, np.random.default_rng(0))
    large_row, small_row, count_row = report.results[-3:]
    expected_large = quantile([r.e2e_s * 1000 for r in large], 0.99)
    expected_small = quantile([r.e2e_s * 1000 for r in small], 0.99)
    assert large_row.observed == pytest.approx(expected_large)
    assert small_row.observed == pytest.approx(expected_small)
    assert count_row.verdict == Verdict.PASS
    assert large_row.verdict == (Verdict.PASS if expected_large < 2500 else Verdict.FAIL)


def test_error_rate_can_exclude_injected_faults(make_run: MakeRun, req: Any) -> None:
    good = _requests(req, 90, 0.05, 0.3)
    injected = [req(0.0, 0.01, at_s=2.0, outcome="http_5xx", fault="http_500")] * 8
    real = [req(0.0, 0.01, at_s=3.0, outcome="http_5xx")] * 2
    run = make_run(good + injected + real)
    budget = parse_budget(
        '[thresholds]\n"error_rate" = "rate < 5%"\n'
        '"error_rate{fault=none}" = "rate < 5%"\n'
        '"requests_failed{outcome=http_5xx}" = "count == 10"\n'
    )
    report = evaluate(budget, run, None, np.random.default_rng(0))
    everything, organic, failed = report.results[-3:]
    assert everything.observed == pytest.approx(10 / 100) and everything.verdict == Verdict.FAIL
    assert organic.observed == pytest.approx(2 / 92) and organic.verdict == Verdict.PASS
    assert failed.verdict == Verdict.PASS


def test_tenant_filter_matching_nothing_is_inconclusive(make_run: MakeRun, req: Any) -> None:
    run = make_run(_requests(req, 50, 0.05, 0.3, tags={"tenant": "acme"}))
    budget = parse_budget('[thresholds]\n"ttft_ms{tenant=globex}" = "p(99) < 800"\n')
    report = evaluate(budget, run, None, np.random.default_rng(0))
    assert report.results[-1].verdict == Verdict.INCONCLUSIVE


def test_over_fails_only_a_sustained_breach(make_run: MakeRun, req: Any) -> None:
    def run_with_slow_stretch(seconds: int) -> RunData:
        fast = [req(0.05, 0.3, at_s=t + 0.5) for t in range(40) for _ in range(5)]
        slow = [req(1.5, 2.0, at_s=10 + t + 0.25) for t in range(seconds) for _ in range(20)]
        return make_run(fast + slow)

    budget = parse_budget(
        '[thresholds]\n"ttft_ms" = [{ threshold = "p(99) < 800", over = "10s" }]\n'
    )
    spike = evaluate(budget, run_with_slow_stretch(3), None, np.random.default_rng(0))
    sustained = evaluate(budget, run_with_slow_stretch(12), None, np.random.default_rng(0))
    assert spike.results[-1].verdict == Verdict.PASS
    assert "longest sustained breach 3 s" in spike.results[-1].detail
    assert sustained.results[-1].verdict == Verdict.FAIL
    # Without `over`, the same spike fails the cumulative p99.
    plain = parse_budget('[thresholds]\n"ttft_ms" = "p(99) < 800"\n')
    assert (
        evaluate(plain, run_with_slow_stretch(3), None, np.random.default_rng(0)).verdict
        == Verdict.FAIL
    )


def test_a_mock_upstream_that_fell_behind_is_inconclusive(summary_of: Summary) -> None:
    summary = summary_of()
    summary["upstream_lag_ms"] = {"p99": 12.5}
    report = _gate(THRESHOLDS, summary)
    row = next(r for r in report.results if r.metric == "upstream_lag_ms")
    assert row.verdict == Verdict.INCONCLUSIVE and row.limit == 5.0
    assert "the mock fell behind" in row.detail
    assert report.verdict == Verdict.INCONCLUSIVE
    relaxed = _gate(THRESHOLDS + "[validity]\nmax_upstream_lag_p99_ms = 20\n", summary)
    assert next(r for r in relaxed.results if r.metric == "upstream_lag_ms").verdict == Verdict.PASS
    summary["upstream_lag_ms"] = None
    unmeasured = _gate(THRESHOLDS, summary)
    assert (
        next(r for r in unmeasured.results if r.metric == "upstream_lag_ms").verdict
        == Verdict.SKIPPED
    )
