"""``[arrival] requests = N``: the plan holds exactly N requests, whole sessions first and the
last one cut after its first turns; the run's steady phase follows the plan."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from harness.contract.records import PlannedRequest
from workloads.planner import build_plan, plan_run
from workloads.request_cap import first_requests
from workloads.scenario import ScenarioError, parse_scenario


def _scenario(arrival: dict[str, Any], workload: dict[str, Any], **extra: Any) -> Any:
    return parse_scenario({"seed": 3, "arrival": arrival, "workload": [workload], **extra})


def _sessions(plan: list[PlannedRequest]) -> dict[str, list[str]]:
    turns: dict[str, list[str]] = defaultdict(list)
    for request in plan:
        turns[request.session_id].append(request.request_id)
    return turns


def test_a_constant_stream_of_single_requests_plans_exactly_n_at_the_rate() -> None:
    planned = plan_run(
        _scenario({"process": "constant", "rate": 5, "requests": 10}, {"kind": "stream"})
    )
    assert len(planned.plan) == 10
    assert [r.offset_s for r in planned.plan] == pytest.approx([i / 5 for i in range(10)])
    # No duration given: the steady phase is N / rate, so the planned rate reads 5/s.
    assert planned.duration_s == pytest.approx(2.0)
    assert planned.cut_by_requests


def test_poisson_arrivals_past_the_default_duration_are_a_prefix_of_a_longer_run() -> None:
    capped = build_plan(_scenario({"rate": 2, "requests": 150}, {"kind": "stream"}))
    # 150 requests at 2/s need about 75 s, past the 30 s default duration.
    longer = build_plan(_scenario({"rate": 2}, {"kind": "stream"}, duration="200s"))
    assert len(capped) == 150
    assert capped == longer[:150]


def test_multi_turn_sessions_stay_whole_but_the_last() -> None:
    workload = {"kind": "chat", "turns": {"dist": "geometric", "mean": 4, "max": 8}}
    capped = build_plan(_scenario({"rate": 3, "requests": 41}, workload))
    full = build_plan(_scenario({"rate": 3}, workload, duration="120s"))
    assert len(capped) == 41
    whole, kept = _sessions(full), _sessions(capped)
    last = max(kept, key=lambda s: next(r.offset_s for r in capped if r.session_id == s))
    for session, request_ids in kept.items():
        if session == last:
            assert request_ids == whole[session][: len(request_ids)]
        else:
            assert request_ids == whole[session]
    # Sessions start in order: none after the last one kept.
    assert sorted(kept) == sorted(whole)[: len(kept)]


def test_a_duration_given_too_ends_the_plan_first_when_it_is_shorter() -> None:
    scenario = _scenario({"process": "constant", "rate": 5, "requests": 100}, {"kind": "stream"})
    bounded = plan_run(scenario.model_copy(update={"duration": 4.0}))
    assert len(bounded.plan) == 20
    assert bounded.duration_s == 4.0 and not bounded.cut_by_requests


def test_arrival_shapes_need_a_duration_with_requests() -> None:
    shape = [{"kind": "burst", "at": "1s", "length": "1s", "multiplier": 3}]
    with pytest.raises(ScenarioError, match="give duration too"):
        _scenario({"rate": 5, "requests": 10, "shape": shape}, {"kind": "stream"})
    shaped = _scenario({"rate": 5, "requests": 10, "shape": shape}, {"kind": "stream"}, duration=9)
    assert len(build_plan(shaped)) == 10


def _request(request_id: str, session: str, turn: int, offset_s: float, **kw: Any) -> Any:
    return PlannedRequest(
        request_id, session, turn, offset_s, 0.0, 10, 10, "m", "openai-chat", True, (), **kw
    )


def test_a_sub_agent_is_kept_only_with_its_parent_turn_and_in_its_unit() -> None:
    plan = [
        _request("a-t1", "a", 1, 0.0),
        _request("a-t2", "a", 2, 0.5),
        _request("a.1-t1", "a.1", 1, 0.6, spawned_by="a-t2"),
        _request("b-t1", "b", 1, 0.55),
        _request("a-t3", "a", 3, 0.9, waits_for=("a.1",)),
    ]
    # Unit "a" (with its sub-agent) starts first and holds 4; b starts inside it but later.
    assert [r.request_id for r in first_requests(plan, 4)] == ["a-t1", "a-t2", "a.1-t1", "a-t3"]
    assert [r.request_id for r in first_requests(plan, 2)] == ["a-t1", "a-t2"]
    assert len(first_requests(plan, 5)) == 5
