"""Sharding a plan over workers, by session: a session's turns, and every sub-agent session
below a parent turn, go to the same worker (a parent's turn starts its sub-agents and may wait
for them, which only one engine can do). Pure: a plan in, one list per worker out.

Units (a root session with its sub-agent tree) are dealt in order of their first offset to the
worker with the fewest requests so far, so shards carry about the same load at every moment.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.contract.records import PlannedRequest


def _root_of(session: str, parent_session: dict[str, str]) -> str:
    seen = {session}
    while session in parent_session:
        session = parent_session[session]
        if session in seen:  # a cycle cannot be planned; stop rather than loop
            break
        seen.add(session)
    return session


def shard_plan(plan: Sequence[PlannedRequest], workers: int) -> list[list[PlannedRequest]]:
    """``workers`` shards of ``plan``; each request in exactly one, plan order kept inside."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    session_of = {r.request_id: r.session_id for r in plan}
    parent_session: dict[str, str] = {}
    for request in plan:
        if request.spawned_by in session_of:
            parent_session[request.session_id] = session_of[request.spawned_by]
    units: dict[str, list[PlannedRequest]] = {}
    for request in plan:
        units.setdefault(_root_of(request.session_id, parent_session), []).append(request)
    order = sorted(units.values(), key=lambda reqs: min(r.offset_s for r in reqs))
    shards: list[list[PlannedRequest]] = [[] for _ in range(workers)]
    for unit in order:
        lightest = min(range(workers), key=lambda i: len(shards[i]))
        shards[lightest].extend(unit)
    return shards
