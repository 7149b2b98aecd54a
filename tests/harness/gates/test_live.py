"""Abort-on-fail decisions: budgets and live counters in, the check that stops the run out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from harness.gates import (
    EXIT_FAIL,
    LiveCounts,
    Verdict,
    evaluate,
    first_breach,
    parse_budget,
)
from harness.stats.run_data import RunData

BUDGET = """
[thresholds]
"ttft_ms" = ["p(99) < 800"]
"requests_failed" = [{ threshold = "count <= 5", abort_on_fail = true }]
"error_rate" = [{ threshold = "rate < 10%", abort_on_fail = true, abort_min_samples = 50 }]
"""

counts = st.builds(
    LiveCounts,
    elapsed_s=st.floats(0, 100),
    requests_done=st.integers(0, 500),
    requests_ok=st.integers(0, 500),
    requests_failed=st.integers(0, 500),
    attempts=st.integers(0, 1000),
    dropped=st.integers(0, 50),
)


def _counts(done: int, failed: int) -> LiveCounts:
    return LiveCounts(
        elapsed_s=3.0,
        requests_done=done,
        requests_ok=done - failed,
        requests_failed=failed,
        attempts=done,
        dropped=0,
    )


def test_a_count_aborts_once_past_its_bound_and_not_before() -> None:
    budget = parse_budget(
        '[thresholds]\n"requests_failed" = [{ threshold = "count <= 5", abort_on_fail = true }]'
    )
    assert first_breach(budget.checks, _counts(1000, 5)) is None
    found = first_breach(budget.checks, _counts(7, 6))
    assert found is not None
    assert (found.metric, found.observed, found.limit, found.at_s) == (
        "requests_failed",
        6.0,
        5.0,
        3.0,
    )


def test_a_rate_waits_for_its_samples() -> None:
    budget = parse_budget(
        BUDGET.replace(
            '"requests_failed" = [{ threshold = "count <= 5", abort_on_fail = true }]', ""
        )
    )
    assert first_breach(budget.checks, _counts(49, 40)) is None  # too few finished
    found = first_breach(budget.checks, _counts(50, 40))
    assert found is not None and found.metric == "error_rate"
    assert found.observed == 40 / 50 and found.samples == 50
    assert first_breach(budget.checks, _counts(500, 49)) is None  # 9.8 % < 10 %


def test_checks_without_abort_on_fail_never_stop_a_run() -> None:
    budget = parse_budget(
        '[thresholds]\n"requests_failed" = ["count <= 5"]\n"error_rate" = ["rate < 1%"]'
    )
    assert first_breach(budget.checks, _counts(1000, 1000)) is None


@given(counts, st.integers(0, 50), st.integers(0, 50))
def test_a_counter_breach_stands_as_counts_grow(
    live: LiveCounts, more_failed: int, more_done: int
) -> None:
    budget = parse_budget(
        '[thresholds]\n"requests_failed" = [{ threshold = "count < 20", abort_on_fail = true }]'
    )
    later = replace(
        live,
        requests_failed=live.requests_failed + more_failed,
        requests_done=live.requests_done + more_done,
    )
    if first_breach(budget.checks, live) is not None:
        assert first_breach(budget.checks, later) is not None
    assert (first_breach(budget.checks, live) is not None) == (live.requests_failed >= 20)


def test_an_aborted_run_fails_its_gate_with_a_row_saying_why(
    summary_of: Callable[..., dict[str, Any]],
) -> None:
    budget = parse_budget(BUDGET)
    found = first_breach(budget.checks, _counts(8, 7))
    assert found is not None
    run = RunData("run", summary_of(), {"aborted": found.as_json()})
    report = evaluate(budget, run, None, np.random.default_rng(1))
    row = report.results[-1]
    assert row.verdict == Verdict.FAIL and row.metric == "requests_failed"
    assert "stopped the run at 3.0 s" in row.detail
    assert report.exit_code == EXIT_FAIL
    untouched = evaluate(budget, RunData("run", summary_of()), None, np.random.default_rng(1))
    assert all("abort" not in r.detail for r in untouched.results)
