"""The closed loop's sessions: the open-loop plan's sessions in the same order, each from 0,
drawn lazily, cut after ``[arrival] requests``; and its scenario rules."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.closed_loop import PREVIEW_SESSIONS, session_units
from workloads.planner import build_plan, plan_run
from workloads.scenario import ScenarioError, parse_scenario
from workloads.session_mix import choose_workloads

MIX = [
    {"kind": "chat", "share": 2, "turns": {"dist": "geometric", "mean": 3, "max": 6}},
    {"kind": "stream"},
    {"kind": "agent_loop", "subagents": {"every_turns": 2, "count": 2}},
]


def _scenario(arrival: dict[str, Any], **extra: Any) -> Any:
    return parse_scenario({"seed": 11, "arrival": arrival, "workload": MIX, **extra})


def test_unit_i_is_the_open_loop_session_i_started_at_0() -> None:
    units = list(itertools.islice(session_units(_scenario({"concurrency": 4})), 30))
    open_plan = build_plan(_scenario({"rate": 5}, duration="60s"))
    by_root: dict[str, list[Any]] = {}
    for request in open_plan:
        by_root.setdefault(request.session_id.split("-")[0], []).append(request)
    for index, unit in enumerate(units):
        root = f"s{index:06d}"
        assert {r.session_id.split("-")[0] for r in unit} == {root}
        start_s = min(r.offset_s for r in by_root[root])
        moved = sorted(
            (replace(r, offset_s=round(r.offset_s - start_s, 9)) for r in by_root[root]),
            key=lambda r: r.request_id,
        )
        mine = sorted(
            (replace(r, offset_s=round(r.offset_s, 9)) for r in unit), key=lambda r: r.request_id
        )
        assert mine == moved
        assert min(r.offset_s for r in unit) == 0.0


@settings(max_examples=25, deadline=None)
@given(requests=st.integers(1, 60), seed=st.integers(0, 50))
def test_requests_cap_draws_exactly_n_then_stops(requests: int, seed: int) -> None:
    scenario = _scenario({"concurrency": 2, "requests": requests}, seed=seed)
    units = list(session_units(scenario))
    assert sum(len(unit) for unit in units) == requests
    assert all(units)
    uncapped = list(itertools.islice(session_units(_scenario({"concurrency": 2}, seed=seed)), 80))
    for unit, whole in zip(units[:-1], uncapped, strict=False):
        assert unit == whole  # every unit but the last stays whole
    kept = {r.request_id for r in units[-1]}
    assert all(not r.spawned_by or r.spawned_by in kept for r in units[-1])


def test_choices_drawn_in_chunks_equal_one_draw_per_session() -> None:
    shares = [0.5, 0.2, 0.3]
    one = choose_workloads(shares, 3000, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    chunked = [c for _ in range(3) for c in choose_workloads(shares, 1000, rng)]
    assert one == chunked


def test_the_plan_verb_previews_the_first_sessions() -> None:
    planned = plan_run(_scenario({"concurrency": 3}))
    assert planned.closed_loop
    roots = {r.session_id for r in planned.plan if not r.spawned_by}
    assert len(roots) == PREVIEW_SESSIONS
    capped = plan_run(_scenario({"concurrency": 3, "requests": 17}))
    assert len(capped.plan) == 17


@pytest.mark.parametrize(
    ("arrival", "extra", "message"),
    [
        ({"process": "concurrency"}, {}, "needs concurrency = N"),
        ({"concurrency": 4, "rate": 3}, {}, "rate does not apply to the closed loop"),
        (
            {"concurrency": 4, "shape": [{"kind": "diurnal"}], "cv": 2},
            {},
            "cv, shape do not apply",
        ),
        ({"process": "poisson", "concurrency": 4}, {}, 'not "poisson"'),
        ({"concurrency": 0}, {}, "greater than or equal to 1"),
        ({"concurrency": 2}, {"trace": {"path": "x.csv"}}, "a [trace] replays its own"),
    ],
)
def test_closed_loop_scenario_mistakes_are_one_line(
    arrival: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError, match=r"arrival|trace|workload") as caught:
        _scenario(arrival, **extra)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_manifest_round_trip_keeps_a_closed_loop_valid() -> None:
    scenario = _scenario({"concurrency": 5, "requests": 9})
    again = type(scenario).model_validate(scenario.model_dump(mode="json"))
    assert again.arrival.concurrency == 5 and again.arrival.process == "concurrency"
