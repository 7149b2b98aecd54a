"""Stop after N requests: a sorted plan and N in, the plan cut to exactly N requests out.

A plan is a sequence of *units*: a session together with the sub-agent sessions its turns
spawn (``spawned_by``), in the order the units start. The cut keeps whole units in that order
while they fit; the first unit that does not fit keeps its earliest requests (plan order:
offset, session, turn), which are a prefix of every session in it, and a sub-agent only when
its parent turn is kept; no later unit starts. So a multi-turn session is never cut anywhere
but at the end of the plan, and the last one loses its later turns.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.contract.records import PlannedRequest


def _sort_key(request: PlannedRequest) -> tuple[float, str, int]:
    return (request.offset_s, request.session_id, request.turn)


def plan_units(plan: Sequence[PlannedRequest]) -> list[list[PlannedRequest]]:
    """The plan's units, each in plan order, ordered by their first request."""
    session_of_request = {r.request_id: r.session_id for r in plan}
    parent_session: dict[str, str] = {}
    for request in plan:
        parent = session_of_request.get(request.spawned_by) if request.spawned_by else None
        if parent is not None and parent != request.session_id:
            parent_session.setdefault(request.session_id, parent)

    def root(session_id: str) -> str:
        seen: set[str] = set()
        while session_id in parent_session and session_id not in seen:
            seen.add(session_id)
            session_id = parent_session[session_id]
        return session_id

    units: dict[str, list[PlannedRequest]] = {}
    for request in sorted(plan, key=_sort_key):
        units.setdefault(root(request.session_id), []).append(request)
    return list(units.values())


def first_requests(plan: Sequence[PlannedRequest], count: int) -> list[PlannedRequest]:
    """``plan`` cut to its first ``count`` requests by the rule of the module docstring, in
    plan order; the whole plan when it holds no more than ``count``."""
    if len(plan) <= count:
        return sorted(plan, key=_sort_key)
    kept: list[PlannedRequest] = []
    for unit in plan_units(plan):
        room = count - len(kept)
        if len(unit) <= room:
            kept.extend(unit)
            continue
        kept_ids = {r.request_id for r in kept}
        for request in unit:
            if len(kept) == count:
                break
            if not request.spawned_by or request.spawned_by in kept_ids:
                kept.append(request)
                kept_ids.add(request.request_id)
        break
    return sorted(kept, key=_sort_key)
