"""Time slices: records in, per-window figures out; the width rule and each figure checked on
hand-made records."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.contract.terms import Price
from harness.cost import load_price_book
from harness.stats.timeslices import (
    MAX_WINDOWS,
    WIDTH_LADDER_S,
    TimeSlicer,
    window_width_s,
)
from tests.harness.stats.soak_records import attempt

PRICES = {"m": Price(input_per_mtok=1.0, output_per_mtok=2.0)}


@pytest.mark.parametrize(
    ("duration_s", "width_s"),
    [(30.0, 60.0), (3600.0, 60.0), (4 * 3600.0, 60.0), (4 * 3600.0 + 1, 120.0), (86400.0, 600.0)],
)
def test_windows_are_a_minute_and_coarser_for_long_runs(duration_s: float, width_s: float) -> None:
    assert window_width_s(duration_s) == width_s


@given(st.floats(min_value=0.0, max_value=400 * 86400.0))
def test_the_width_is_the_narrowest_that_keeps_windows_bounded(duration_s: float) -> None:
    width_s = window_width_s(duration_s)
    assert math.ceil(duration_s / width_s) <= MAX_WINDOWS
    narrower = [w for w in WIDTH_LADDER_S if w < width_s]
    assert all(math.ceil(duration_s / w) > MAX_WINDOWS for w in narrower)


def test_each_window_figure_is_computed_from_its_own_attempts() -> None:
    records = [
        *(attempt(float(i), ttft_s=0.1 * (i + 1), e2e_s=1.0, request_id=f"a{i}") for i in range(5)),
        attempt(10.0, ok=False, request_id="b"),
        attempt(11.0, ok=False, attempt_no=2, request_id="b"),  # a retry: not a new request
        attempt(None, request_id="never-sent"),
        attempt(70.0, ttft_s=0.5, e2e_s=2.0, request_id="c"),
    ]
    slicer = TimeSlicer(90.0).add_all(iter(records))
    first, second = slicer.windows()
    assert (first.start_s, first.span_s, second.start_s, second.span_s) == (0.0, 60.0, 60.0, 30.0)
    assert (first.attempts, first.failed, first.requests) == (7, 2, 6)
    assert first.error_rate == pytest.approx(2 / 7)
    assert first.requests_per_s == pytest.approx(6 / 60)
    assert first.ttft_p50_ms == pytest.approx(300.0)
    assert first.ttft_p99_ms == pytest.approx(496.0)
    assert first.e2e_p99_ms == pytest.approx(1000.0)
    assert (second.attempts, second.failed, second.requests_per_s) == (1, 0, pytest.approx(1 / 30))
    assert second.ttft_p50_ms == pytest.approx(500.0)
    assert first.cost_usd is None  # no prices given: unknown, not 0


def test_an_empty_window_has_no_latency_and_no_error_rate() -> None:
    windows = TimeSlicer(180.0).add_all([attempt(5.0), attempt(130.0)]).windows()
    assert len(windows) == 3
    empty = windows[1]
    assert (empty.attempts, empty.error_rate, empty.ttft_p99_ms) == (0, None, None)
    assert empty.as_dict()["ttft_ms"] == {"p50": None, "p99": None}


def test_window_cost_is_billed_per_attempt_and_unknown_when_a_price_is_missing() -> None:
    prices = load_price_book(PRICES)
    records = [attempt(1.0, tokens=(1000, 500)), attempt(70.0), attempt(75.0, model="unpriced")]
    first, second = TimeSlicer(120.0, prices).add_all(records).windows()
    assert first.cost_usd == pytest.approx(1000 * 1e-6 + 500 * 2e-6)
    assert second.cost_usd is None


def test_samples_of_a_span_come_window_by_window() -> None:
    slicer = TimeSlicer(180.0).add_all(
        [attempt(130.0, ttft_s=0.3), attempt(5.0, ttft_s=0.1), attempt(65.0, ttft_s=0.2)]
    )
    assert slicer.samples("ttft_s", 0.0, 120.0) == pytest.approx([0.1, 0.2])
    assert slicer.samples("failed", 60.0, math.inf) == [0, 0]
    assert slicer.sample_bytes() == 3 * (8 + 8 + 1)
