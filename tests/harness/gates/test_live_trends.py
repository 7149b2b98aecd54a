"""Abort-on-fail on latencies: crafted attempt-record streams in, the check that stops the run
(or none) out. Min samples and delay hold off the first slow requests; tag filters apply."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.contract.records import AttemptRecord
from harness.gates import LiveCounts, LiveTrends, first_breach, parse_budget
from harness.gates.abortable import LIVE_TRENDS
from harness.gates.budget import Budget
from harness.gates.live import abort_result, min_samples
from harness.gates.observe import observe
from harness.stats.histogram import DEFAULT_ACCURACY
from harness.stats.run_data import RunData

MakeRun = Callable[..., RunData]


def _budget(key: str, entry: str) -> Budget:
    return parse_budget(f'[thresholds]\n"{key}" = [{{ {entry}, abort_on_fail = true }}]')


def _trends(budget: Budget, records: Sequence[AttemptRecord]) -> LiveTrends:
    trends = LiveTrends(budget.checks, LIVE_TRENDS)
    for record in records:
        trends.observe(record)
    return trends


def _counts(elapsed_s: float = 30.0) -> LiveCounts:
    return LiveCounts(
        elapsed_s=elapsed_s,
        requests_done=0,
        requests_ok=0,
        requests_failed=0,
        attempts=0,
        dropped=0,
    )


def _stream(
    make_run: MakeRun, req: type, ttfts_s: Sequence[float], tenant: str = "a"
) -> tuple[AttemptRecord, ...]:
    run = make_run(
        [req(t, t + 0.1, at_s=1 + i * 0.01, tags={"tenant": tenant}) for i, t in enumerate(ttfts_s)]
    )
    assert run.records is not None
    return run.records


def test_a_slow_tail_aborts_once_enough_samples_are_in(make_run: MakeRun, req: type) -> None:
    budget = _budget("ttft_ms", 'threshold = "p(99) < 800"')
    assert min_samples(budget.checks[0]) == 100  # one slow request cannot be the whole tail
    slow_first = _stream(make_run, req, [2.0] + [0.1] * 98)
    assert first_breach(budget.checks, _counts(), _trends(budget, slow_first)) is None
    tail = _stream(make_run, req, [0.1] * 95 + [2.0] * 5)
    found = first_breach(budget.checks, _counts(), _trends(budget, tail))
    assert found is not None
    assert (found.metric, found.limit, found.samples) == ("ttft_ms", 800.0, 100)
    assert found.observed == pytest.approx(2000.0, rel=DEFAULT_ACCURACY)
    assert first_breach(budget.checks, _counts(), None) is None  # no records fed: no figure


def test_delay_abort_eval_holds_every_judgement(make_run: MakeRun, req: type) -> None:
    budget = _budget("e2e_ms", 'threshold = "avg < 100", delay_abort_eval = "10s"')
    trends = _trends(budget, _stream(make_run, req, [1.0] * 50))
    assert first_breach(budget.checks, _counts(9.9), trends) is None
    found = first_breach(budget.checks, _counts(10.0), trends)
    assert found is not None and found.observed == pytest.approx(1100.0)


def test_explicit_min_samples_replace_the_default(make_run: MakeRun, req: type) -> None:
    budget = _budget("ttft_ms", 'threshold = "max < 500", abort_min_samples = 3')
    records = _stream(make_run, req, [0.9, 0.1, 0.1])
    assert first_breach(budget.checks, _counts(), _trends(budget, records[:2])) is None
    assert first_breach(budget.checks, _counts(), _trends(budget, records)) is not None


def test_tag_filters_select_the_attempts(make_run: MakeRun, req: type) -> None:
    budget = _budget("ttft_ms{tenant=a}", 'threshold = "med < 500"')
    slow_b = _stream(make_run, req, [2.0] * 40, tenant="b")
    fast_a = _stream(make_run, req, [0.1] * 40, tenant="a")
    assert first_breach(budget.checks, _counts(), _trends(budget, slow_b + fast_a)) is None
    negated = _budget("ttft_ms{tenant!=a}", 'threshold = "med < 500"')
    found = first_breach(negated.checks, _counts(), _trends(negated, slow_b + fast_a))
    assert found is not None and found.metric == "ttft_ms{tenant!=a}" and found.samples == 40


def test_failed_attempts_feed_no_answered_latency(make_run: MakeRun, req: type) -> None:
    budget = _budget("e2e_ms", 'threshold = "count < 5"')
    run = make_run([req(0.0, 9.0, at_s=1.0 + i, outcome="http_5xx") for i in range(10)])
    assert run.records is not None
    assert first_breach(budget.checks, _counts(), _trends(budget, run.records)) is None


# The fixtures are stateless factories, so sharing them across examples is safe.
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.floats(0.001, 5.0), min_size=1, max_size=60),
    st.sampled_from(["ttft_ms", "e2e_ms", "itl_ms", "tpot_ms", "schedule_lag_ms"]),
    st.sampled_from([50.0, 90.0, 99.0]),
)
def test_the_live_figure_matches_the_end_of_run_figure(
    make_run: MakeRun, req: type, ttfts_s: list[float], name: str, pct: float
) -> None:
    run = make_run([req(t, t * 2 + 0.05, at_s=1 + i * 0.1) for i, t in enumerate(ttfts_s)])
    budget = _budget(name, f'threshold = "p({pct:g}) < 1"')
    assert run.records is not None
    live = _trends(budget, run.records).figure(budget.checks[0])
    check = budget.checks[0]
    exact = observe(run, check.key, check.info, "p", pct)
    assert live is not None and live[1] == exact.count
    if exact.value is None:
        assert live[0] is None
        return
    values = sorted(exact.samples.values if exact.samples else ())
    low = values[int(np.floor(pct / 100 * (len(values) - 1)))]
    high = values[int(np.ceil(pct / 100 * (len(values) - 1)))]
    assert live[0] is not None
    assert low * (1 - DEFAULT_ACCURACY) - 1e-9 <= live[0] <= high * (1 + DEFAULT_ACCURACY)
    assert low <= exact.value <= high


def test_the_gate_row_of_a_latency_abort_has_its_unit(make_run: MakeRun, req: type) -> None:
    budget = _budget("ttft_ms", 'threshold = "p(50) < 800"')
    found = first_breach(
        budget.checks, _counts(4.0), _trends(budget, _stream(make_run, req, [2.0] * 20))
    )
    assert found is not None
    row = abort_result({"aborted": found.as_json()})
    assert row is not None and row.unit == "ms" and row.samples == 20
    assert "stopped the run at 4.0 s (live figure on 20 samples)" in row.detail
