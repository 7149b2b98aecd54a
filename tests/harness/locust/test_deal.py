"""Dealing by unit: every request to exactly one worker, a session's turns and a parent's
sub-agent tree on one worker, workers balanced by request count, a retired worker dealt no
more; the plan drawn a window at a time, never further than asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.records import PlannedMessage, PlannedRequest
from harness.locust.deal import Dealer, PlanWindows, Unit
from workloads.request_cap import plan_units


def _request(
    session: int, turn: int, spawned_by: str = "", offset_s: float = -1.0
) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"s{session}-t{turn}",
        session_id=f"s{session}",
        turn=turn,
        offset_s=float(session) if offset_s < 0 else offset_s,
        think_s=0.0,
        prompt_tokens=1,
        max_tokens=1,
        model="m",
        api="openai-chat",
        stream=True,
        messages=(PlannedMessage("user", content="hi"),),
        spawned_by=spawned_by if turn == 1 else "",
    )


def _deal(units: list[Unit], workers: int) -> list[list[PlannedRequest]]:
    dealer = Dealer(workers)
    parts: list[list[PlannedRequest]] = [[] for _ in range(workers)]
    for unit in units:
        parts[dealer.deal(unit)].extend(unit)
    assert dealer.assigned == [len(part) for part in parts]
    return parts


@settings(max_examples=50, deadline=None)
@given(
    turns=st.lists(st.integers(1, 4), min_size=1, max_size=30),
    parents=st.lists(st.integers(-1, 29), min_size=30, max_size=30),
    workers=st.integers(1, 5),
)
def test_every_request_once_and_trees_together(
    turns: list[int], parents: list[int], workers: int
) -> None:
    plan = []
    for session, count in enumerate(turns):
        parent = parents[session]
        spawned_by = f"s{parent}-t1" if 0 <= parent < session else ""
        plan.extend(_request(session, turn, spawned_by) for turn in range(1, count + 1))
    parts = _deal(plan_units(plan), workers)
    placed = [r.request_id for part in parts for r in part]
    assert sorted(placed) == sorted(r.request_id for r in plan)
    where = {r.session_id: i for i, part in enumerate(parts) for r in part}
    for request in plan:
        if request.spawned_by:
            assert where[request.session_id] == where[request.spawned_by.split("-")[0]]


def test_independent_sessions_are_balanced() -> None:
    sizes = [len(part) for part in _deal([[_request(s, 1)] for s in range(100)], 3)]
    assert max(sizes) - min(sizes) <= 1


def test_a_retired_worker_is_dealt_no_more_and_the_rest_stay_balanced() -> None:
    dealer = Dealer(3)
    for session in range(6):
        dealer.deal([_request(session, 1)])
    assert dealer.assigned == [2, 2, 2]
    dealer.retire(1)
    taken = [dealer.deal([_request(session, 1)]) for session in range(6, 16)]
    assert 1 not in taken and dealer.assigned == [7, 2, 7]
    dealer.retire(0)
    dealer.retire(2)
    assert not dealer.any_alive
    with pytest.raises(ValueError):
        dealer.deal([_request(99, 1)])


def test_windows_draw_the_plan_lazily_and_past_the_end_all_at_once() -> None:
    drawn: list[int] = []

    def units() -> Iterator[Unit]:
        for session in range(30):  # a session a second; the run lasts 20 s
            drawn.append(session)
            yield [_request(session, 1), _request(session, 2)]

    windows = PlanWindows(units(), duration_s=20.0)
    first = list(windows.take(5.0))
    assert [unit[0].session_id for unit in first] == [f"s{i}" for i in range(5)]
    assert drawn == list(range(6))  # one unit looked at ahead, no more
    assert list(windows.take(5.0)) == [] and not windows.exhausted
    assert [u[0].offset_s for u in windows.take(8.5)] == [5.0, 6.0, 7.0, 8.0]
    # Past the run's end (a trace longer than the run) the rest comes at once.
    rest = list(windows.take(19.5))
    assert [u[0].offset_s for u in rest] == [float(s) for s in range(9, 30)]
    assert windows.exhausted and list(windows.take(100.0)) == []
