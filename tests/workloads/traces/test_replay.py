"""Replay settings: time scaling, slices and rate scaling act as documented; invariants of
any trace's plan (offsets sorted, prompts summing to the row's tokens) hold under Hypothesis."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.records import PlannedRequest
from harness.contract.traffic import Trace
from workloads.traces import TraceRow, replay_trace


def _rows(times_s: list[float]) -> list[TraceRow]:
    return [
        TraceRow(
            line=index + 2,
            time_ns=round(time * 1e9),
            prompt_tokens=10 + index,
            output_tokens=index % 3,
        )
        for index, time in enumerate(times_s)
    ]


def _plan(rows: list[TraceRow], seed: int = 3, **settings_: object) -> list[PlannedRequest]:
    trace = Trace.model_validate({"path": "t.csv", **settings_})
    return replay_trace(rows, trace, seed=seed, api="openai-chat", model="m", stream=False)


def test_a_slice_keeps_rows_inside_and_starts_at_its_start() -> None:
    rows = _rows([100.0 + step for step in range(0, 100, 5)])  # trace time 0, 5, ..., 95
    plan = _plan(rows, start="12s", end="40s", time_scale=2.0)
    assert [request.prompt_tokens for request in plan] == [10 + i for i in range(3, 8)]
    assert [request.offset_s for request in plan] == [(15 + 5 * i - 12) / 2 for i in range(5)]


def test_zero_output_rows_ask_for_one_token() -> None:
    plan = _plan(_rows([0.0, 1.0, 2.0]))
    assert [request.max_tokens for request in plan] == [1, 1, 2]


def test_rate_scale_thins_to_its_share_within_binomial_bounds() -> None:
    rows = _rows([i * 0.1 for i in range(4000)])
    for scale in (0.25, 0.5, 0.8):
        kept = len(_plan(rows, rate_scale=scale))
        spread = 4.5 * math.sqrt(len(rows) * scale * (1 - scale))
        assert abs(kept - len(rows) * scale) <= spread


def test_rate_scale_above_one_adds_copies_between_a_row_and_the_next() -> None:
    times = [0.0, 1.0, 3.0, 6.0, 10.0]
    plan = _plan(_rows(times), rate_scale=3.0)
    assert len(plan) == 3 * len(times)
    for request in plan:
        row = int(request.session_id[1:].split(".")[0])
        low, high = times[row], times[min(row + 1, len(times) - 1)]
        assert low <= request.offset_s <= high
        assert request.prompt_tokens == 10 + row
    assert len({request.session_id for request in plan}) == len(plan)
    fractional = _plan(_rows([i * 0.1 for i in range(2000)]), rate_scale=1.5)
    assert abs(len(fractional) - 3000) <= 4.5 * math.sqrt(2000 * 0.25)


def test_same_seed_same_plan_other_seed_other_text() -> None:
    rows = _rows([0.0, 0.5, 2.0])
    assert _plan(rows, seed=5, rate_scale=1.7) == _plan(rows, seed=5, rate_scale=1.7)
    seeds_a = [m.seed for r in _plan(rows, seed=5) for m in r.messages]
    seeds_b = [m.seed for r in _plan(rows, seed=6) for m in r.messages]
    assert set(seeds_a).isdisjoint(seeds_b)


_ROW = st.builds(
    TraceRow,
    line=st.just(1),
    time_ns=st.integers(0, 10**12),
    prompt_tokens=st.integers(0, 3000),
    output_tokens=st.integers(0, 500),
    session=st.sampled_from([None, "a", "b"]),
    blocks=st.none() | st.lists(st.integers(0, 20), max_size=8).map(tuple),
    prefix_tokens=st.none() | st.integers(0, 4000),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_ROW, max_size=30), st.floats(0.1, 50.0), st.floats(0.2, 3.0))
def test_any_trace_gives_sorted_offsets_and_exact_prompt_sizes(
    rows: list[TraceRow], time_scale: float, rate_scale: float
) -> None:
    plan = _plan(rows, time_scale=time_scale, rate_scale=rate_scale, block_tokens=64)
    offsets = [request.offset_s for request in plan]
    assert offsets == sorted(offsets)
    assert all(offset >= 0 for offset in offsets)
    for request in plan:
        assert sum(message.tokens for message in request.messages) == request.prompt_tokens
        assert request.max_tokens >= 1
    if rate_scale == 1.0:
        assert len(plan) == len(rows)
