"""Sharding by session: every request in exactly one shard, a session's turns and a parent's
sub-agent tree on one worker, shards balanced by request count."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.records import PlannedMessage, PlannedRequest
from harness.locust.shard import shard_plan


def _request(session: int, turn: int, spawned_by: str = "") -> PlannedRequest:
    return PlannedRequest(
        request_id=f"s{session}-t{turn}",
        session_id=f"s{session}",
        turn=turn,
        offset_s=float(session),
        think_s=0.0,
        prompt_tokens=1,
        max_tokens=1,
        model="m",
        api="openai-chat",
        stream=True,
        messages=(PlannedMessage("user", content="hi"),),
        spawned_by=spawned_by if turn == 1 else "",
    )


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
    shards = shard_plan(plan, workers)
    assert len(shards) == workers
    placed = [r.request_id for shard in shards for r in shard]
    assert sorted(placed) == sorted(r.request_id for r in plan)
    where = {r.session_id: i for i, shard in enumerate(shards) for r in shard}
    for request in plan:
        if request.spawned_by:
            assert where[request.session_id] == where[request.spawned_by.split("-")[0]]


def test_independent_sessions_are_balanced() -> None:
    plan = [_request(s, 1) for s in range(100)]
    sizes = [len(shard) for shard in shard_plan(plan, 3)]
    assert max(sizes) - min(sizes) <= 1
