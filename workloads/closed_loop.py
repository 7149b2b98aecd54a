"""The closed loop's sessions: a scenario with ``[arrival] concurrency`` in; its sessions out
one unit at a time (a session with the sub-agent sessions it spawns, or a batch job's
requests), as the engine asks for them when a slot frees.

Deterministic like the open-loop plan: unit ``i`` is session ``i`` of the same seed streams
(workload choice, then the session's own RNG), so a longer run continues a shorter one's
sessions and session ``i`` is the one the open-loop plan would build. A session has no planned
start (it starts when a slot frees), so each is planned from 0: a later turn's ``offset_s`` is
its think time so far (so ``[workload.repeat]`` weighs originals by popularity alone: no
planned start, no time gap). With ``[arrival] requests = N`` the units stop after N requests, the
last unit cut to its first requests (``workloads.request_cap``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from harness.contract.records import PlannedRequest
from workloads import seeds
from workloads.fitting import TraceFits
from workloads.repeats import RepeatBook
from workloads.request_cap import first_requests
from workloads.scenario import Scenario
from workloads.session_mix import choose_workloads, session_requests, workload_tags

#: ``[arrival] process`` of the closed loop.
CLOSED_LOOP = "concurrency"
#: Sessions ``tokenstorm plan`` previews without ``[arrival] requests`` (at least
#: ``concurrency``).
PREVIEW_SESSIONS = 100
#: Workload choices drawn at once (the same values as one draw per session).
_CHOICE_CHUNK = 1024


def _plan_order(request: PlannedRequest) -> tuple[float, str, int]:
    return (request.offset_s, request.session_id, request.turn)


def session_units(scenario: Scenario) -> Iterator[list[PlannedRequest]]:
    """The closed loop's units in the order they start, each in plan order; endless without
    ``[arrival] requests`` (the engine stops drawing at the run's end)."""
    fits = TraceFits()
    fitted = [fits.workload(workload) for workload in scenario.workload]
    tags = [workload_tags(workload) for workload in fitted]
    shares = [workload.share for workload in fitted]
    target = (scenario.target.api, scenario.target.model, scenario.target.stream)
    choice_rng = seeds.rng_stream(scenario.seed, seeds.WORKLOAD_CHOICE)
    left = scenario.arrival.requests
    choices: list[int] = []
    repeats = RepeatBook(scenario.seed)
    for index in itertools.count():
        if left is not None and left <= 0:
            return
        if index % _CHOICE_CHUNK == 0:
            choices = choose_workloads(shares, _CHOICE_CHUNK, choice_rng)
        choice = choices[index % _CHOICE_CHUNK]
        unit = sorted(
            session_requests(
                scenario.seed, target, fitted[choice], tags[choice], index, 0.0, choice, repeats
            ),
            key=_plan_order,
        )
        if left is not None:
            unit = first_requests(unit, left)
            left -= len(unit)
        yield unit


def preview_plan(scenario: Scenario) -> list[PlannedRequest]:
    """What ``tokenstorm plan`` shows of a closed loop: ``[arrival] requests`` requests, else
    the first ``max(concurrency, PREVIEW_SESSIONS)`` units; in plan order."""
    units = session_units(scenario)
    if scenario.arrival.requests is None:
        count = max(scenario.arrival.concurrency or 0, PREVIEW_SESSIONS)
        units = itertools.islice(units, count)
    return sorted((r for unit in units for r in unit), key=_plan_order)
