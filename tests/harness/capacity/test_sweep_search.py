"""The sweep's search on oracles: it brackets a monotone SLO threshold within the tolerance,
goes down when the first load misses, counts whole sessions, and stops at the first invalid
load, so no load the rig could not hold is ever reported as the limit."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.capacity.sweep_result import Step, limit, pooled
from harness.capacity.sweep_search import Outcome, SearchSettings, bracket, next_value


def _search(config: SearchSettings, oracle: object, repeats: int = 1) -> list[Step]:
    steps: list[Step] = []
    while (value := next_value(config, pooled(steps))) is not None:
        for repeat in range(repeats):
            outcome = oracle(value, repeat)  # type: ignore[operator]
            steps.append(Step(value, repeat, outcome, f"v{value:g}-r{repeat}"))
            if outcome is Outcome.INVALID:
                break
        assert len({s.value for s in steps}) <= config.max_steps
    return steps


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.floats(0.5, 5000),
    start=st.floats(0.2, 100),
    growth=st.floats(1.2, 4),
    tolerance=st.floats(0.01, 0.2),
)
def test_a_monotone_threshold_is_bracketed_within_the_tolerance(
    threshold: float, start: float, growth: float, tolerance: float
) -> None:
    config = SearchSettings(start, growth, tolerance=tolerance, max_steps=200, bottom=0.01)

    def oracle(value: float, _repeat: int) -> Outcome:
        return Outcome.MEETS if value <= threshold else Outcome.MISSES

    found = limit(_search(config, oracle), config)
    assert found["value"] is not None and found["value"] <= threshold
    assert found["lowest_miss"] > threshold
    assert found["lowest_miss"] <= found["value"] * (1 + tolerance)
    assert found["bound"] == "converged" and found["limited_by"] == "slo"


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.floats(1, 5000),
    rig_limit=st.floats(1, 5000),
    start=st.floats(0.5, 50),
    growth=st.floats(1.2, 4),
)
def test_a_load_the_rig_cannot_hold_is_never_the_limit(
    threshold: float, rig_limit: float, start: float, growth: float
) -> None:
    config = SearchSettings(start, growth, tolerance=0.02, max_steps=40)

    def oracle(value: float, _repeat: int) -> Outcome:
        if value >= rig_limit:
            return Outcome.INVALID  # the generator falls behind: its figures mean nothing
        return Outcome.MEETS if value <= threshold else Outcome.MISSES

    steps = _search(config, oracle)
    found = limit(steps, config)
    invalid = [s.value for s in steps if s.outcome is Outcome.INVALID]
    assert (len(invalid) <= 1 and steps[-1].outcome is Outcome.INVALID) or not invalid
    if found["value"] is not None:
        assert found["value"] < rig_limit and found["value"] <= threshold
    if invalid:
        assert found["limited_by"] == "rig"
        assert found["bound"] != "converged" or found["lowest_miss"] < rig_limit


def test_whole_numbers_stop_one_apart_and_a_first_miss_goes_down() -> None:
    config = SearchSettings(8, 2.0, tolerance=0.01, max_steps=20, whole=True)
    steps = _search(config, lambda v, _r: Outcome.MEETS if v <= 13 else Outcome.MISSES)
    assert all(float(s.value).is_integer() for s in steps)
    found = limit(steps, config)
    assert (found["value"], found["lowest_miss"], found["bound"]) == (13, 14, "converged")
    down = SearchSettings(100, 2.0, tolerance=0.05, max_steps=20)
    steps = _search(down, lambda v, _r: Outcome.MEETS if v <= 20 else Outcome.MISSES)
    assert [s.value for s in steps][:3] == [100, 50, 25]
    assert 20 / 1.05 <= limit(steps, down)["value"] <= 20


def test_the_top_and_the_step_budget_leave_a_lower_bound() -> None:
    config = SearchSettings(10, 2.0, top=50, max_steps=10)
    steps = _search(config, lambda _v, _r: Outcome.MEETS)
    assert [s.value for s in steps] == [10, 20, 40, 50]
    assert limit(steps, config)["bound"] == "at_least"
    assert limit(steps, config)["limited_by"] == "top"
    short = SearchSettings(10, 2.0, max_steps=3)
    found = limit(_search(short, lambda _v, _r: Outcome.MEETS), short)
    assert (found["value"], found["limited_by"]) == (40, "max_steps")


def test_repeats_vote_and_give_a_range() -> None:
    config = SearchSettings(10, 2.0, tolerance=0.05, max_steps=30)
    thresholds = (30.0, 34.0, 38.0)  # each repeat's own knee

    def oracle(value: float, repeat: int) -> Outcome:
        return Outcome.MEETS if value <= thresholds[repeat] else Outcome.MISSES

    steps = _search(config, oracle, repeats=3)
    found = limit(steps, config)
    assert 34 / 1.06 <= found["value"] <= 34.0  # the median repeat's knee
    low, high = found["interval"]["low"], found["interval"]["high"]
    assert low <= 30 and 34 <= high <= 38 and found["interval"]["coverage"] == 0.75


def test_settings_and_brackets_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        SearchSettings(0, 2.0)
    with pytest.raises(ValueError):
        SearchSettings(10, 1.0)
    with pytest.raises(ValueError):
        SearchSettings(10, 2.0, top=5)
    assert bracket([]).meets is None and next_value(SearchSettings(3), []) == 3
    assert next_value(SearchSettings(3, top=math.inf), [(3, Outcome.INVALID)]) is None
