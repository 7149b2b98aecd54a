"""The plan in bounded memory: a validated ``Scenario`` in; its plan out unit by unit, in the
order the units start, drawn lazily from the same seed streams as the whole plan
(``workloads.planner``), so that the requests are the same ones, byte for byte.

A *unit* is a session with the sub-agent sessions it spawns (``workloads.request_cap``), in
plan order (offset, session, turn); each request of a batch job is a unit of its own.
Synthetic sessions are built one at a time as their arrival offsets are drawn
(``workloads.arrivals.iter_session_offsets_s``); a ``[trace]``'s rows are read whole and
merged in by their first request. With ``[arrival] requests = N`` the units stop after N
requests, the last one cut to its earliest requests as ``first_requests`` cuts a whole plan,
and (as in the whole planner) no session is built once those built hold N requests.
``PlanOrder`` turns units back into plan order, holding only the requests of sessions still
going (a session's later turns wait in it until every earlier request is out).

Memory grows with the sessions that overlap in time, not with the run's length (a trace's
rows excepted: the file is read whole).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.contract.records import PlannedRequest
from harness.contract.traffic import Arrival
from workloads import seeds
from workloads.arrivals import iter_session_offsets_s
from workloads.closed_loop import CLOSED_LOOP
from workloads.fitting import TraceFits
from workloads.repeats import RepeatBook
from workloads.request_cap import first_requests, plan_units
from workloads.scenario import Scenario
from workloads.session_mix import DEFAULT_MODEL, choose_workloads, session_requests, workload_tags
from workloads.traces import load_trace, replay_trace

Unit = list[PlannedRequest]
_Key = tuple[float, str, int]

#: Workload choices drawn at once (the same values as one draw per session).
_CHOICE_CHUNK = 1024


def plan_key(request: PlannedRequest) -> _Key:
    """Where a request sorts in a plan: offset, then session, then turn."""
    return (request.offset_s, request.session_id, request.turn)


def iter_units(scenario: Scenario) -> Iterator[Unit]:
    """The open-loop plan of ``scenario`` unit by unit, ordered by each unit's first request;
    every request of ``planner.plan_run(scenario).plan`` exactly once. ``TraceError`` if a
    trace cannot be read (raised when the first unit is drawn)."""
    if scenario.arrival.process == CLOSED_LOOP:
        raise ValueError("a closed loop draws its sessions itself (workloads.closed_loop)")
    fits = TraceFits()
    arrival = fits.arrival(scenario.arrival)
    wanted = scenario.arrival.requests
    bounded = wanted is None or "duration" in scenario.model_fields_set
    streams: list[Iterator[Unit]] = []
    if scenario.workload:
        horizon_s = scenario.duration if bounded else math.inf
        streams.append(_synthetic_units(scenario, fits, arrival, horizon_s, wanted))
    if scenario.trace is not None:
        streams.append(_trace_units(scenario))
    merged = heapq.merge(*streams, key=lambda unit: plan_key(unit[0]))
    if wanted is None:
        yield from merged
        return
    left = wanted
    for unit in merged:
        if left <= 0:
            return
        if len(unit) > left:
            unit = first_requests(unit, left)
        left -= len(unit)
        yield unit


def _synthetic_units(
    scenario: Scenario, fits: TraceFits, arrival: Arrival, horizon_s: float, wanted: int | None
) -> Iterator[Unit]:
    """Session after session at the arrival offsets (``inf``: endless), each in plan order."""
    fitted = [fits.workload(workload) for workload in scenario.workload]
    tags = [workload_tags(workload) for workload in fitted]
    shares = [workload.share for workload in fitted]
    target = (scenario.target.api, scenario.target.model, scenario.target.stream)
    choice_rng = seeds.rng_stream(scenario.seed, seeds.WORKLOAD_CHOICE)
    offsets = iter_session_offsets_s(
        arrival, horizon_s, seeds.rng_stream(scenario.seed, seeds.ARRIVALS)
    )
    repeats = RepeatBook(scenario.seed)  # as the whole planner: one book, sessions in order
    choices: list[int] = []
    waiting: list[tuple[_Key, int, Unit]] = []
    count = itertools.count()
    built = 0
    for index, offset_s in enumerate(offsets):
        if wanted is not None and built >= wanted:
            break  # as the whole planner: no session starts once N requests are built
        if index % _CHOICE_CHUNK == 0:
            choices = choose_workloads(shares, _CHOICE_CHUNK, choice_rng)
        choice = choices[index % _CHOICE_CHUNK]
        requests = session_requests(
            scenario.seed, target, fitted[choice], tags[choice], index, offset_s, choice, repeats
        )
        # A batch job's requests are sessions of their own, each a unit spread over the job's
        # span; later sessions' units may start between them, so they wait here in order.
        built += len(requests)
        units = plan_units(requests)
        first = plan_key(units[0][0]) if units else None
        while waiting and (first is None or waiting[0][0] < first):
            yield heapq.heappop(waiting)[2]
        for unit in units:
            heapq.heappush(waiting, (plan_key(unit[0]), next(count), unit))
    while waiting:
        yield heapq.heappop(waiting)[2]


def _trace_units(scenario: Scenario) -> Iterator[Unit]:
    trace = scenario.trace
    assert trace is not None
    rows = load_trace(Path(trace.path), trace.format, trace.columns)
    replayed = replay_trace(
        rows,
        trace,
        seed=scenario.seed,
        api=scenario.target.api,
        model=trace.model or scenario.target.model or DEFAULT_MODEL,
        stream=scenario.target.stream,
    )
    yield from plan_units(replayed)


class PlanOrder:
    """Units in (ordered by their first request), the same requests in plan order out: a
    request is released once no unit still to come can hold an earlier one."""

    def __init__(self) -> None:
        self._heap: list[tuple[_Key, int, PlannedRequest]] = []
        self._count = itertools.count()

    def add(self, unit: Sequence[PlannedRequest]) -> list[PlannedRequest]:
        """Take ``unit`` in; return the requests now known to come before all later ones."""
        if not unit:
            return []
        first = min(plan_key(request) for request in unit)
        out: list[PlannedRequest] = []
        while self._heap and self._heap[0][0] < first:
            out.append(heapq.heappop(self._heap)[2])
        for request in unit:
            heapq.heappush(self._heap, (plan_key(request), next(self._count), request))
        return out

    def rest(self) -> list[PlannedRequest]:
        """Every request still held, in plan order (no more units come)."""
        out = [entry[2] for entry in sorted(self._heap)]
        self._heap.clear()
        return out

    def __len__(self) -> int:
        return len(self._heap)


def in_plan_order(units: Iterator[Sequence[PlannedRequest]]) -> Iterator[PlannedRequest]:
    """The requests of ``units`` (ordered by first request) in plan order."""
    order = PlanOrder()
    for unit in units:
        yield from order.add(unit)
    yield from order.rest()


@dataclass(frozen=True, slots=True)
class PlanOutline:
    """What one counting pass over a streamed plan learnt, keeping no request."""

    #: Requests counted (all of them when ``complete``).
    requests: int
    #: True when the pass reached the plan's end; else it stopped after ``requests``.
    complete: bool
    #: The plan's steady phase, as ``planner.plan_run`` gives it (see there).
    duration_s: float
    cut_by_requests: bool


def outline(
    scenario: Scenario,
    limit: int,
    observe: Callable[[PlannedRequest], None] | None = None,
) -> PlanOutline:
    """Count the plan's requests in plan order (``observe`` sees each), keeping none: up to
    ``limit`` of them, or to the end when ``[arrival] requests`` bounds the plan (the end's
    offset then sets the steady phase, which needs the whole count)."""
    wanted = scenario.arrival.requests
    count = 0
    last_s = 0.0
    starts: list[float] = []  # first and last session start, and how many
    start_count = 0
    for request in in_plan_order(iter_units(scenario)):
        if wanted is None and count >= limit:
            return PlanOutline(count, False, scenario.duration, False)
        count += 1
        last_s = request.offset_s
        if observe is not None and count <= limit:
            observe(request)
        if request.turn == 1 and not request.spawned_by:
            start_count += 1
            starts = [starts[0] if starts else last_s, last_s]
    if wanted is None or count < wanted:
        return PlanOutline(count, True, scenario.duration, False)
    arrival = TraceFits().arrival(scenario.arrival)
    if scenario.workload and arrival.rate > 0:
        gap_s = 1.0 / arrival.rate
    elif start_count >= 2 and starts[1] > starts[0]:
        gap_s = (starts[1] - starts[0]) / (start_count - 1)
    else:
        gap_s = 1.0
    end_s = last_s + gap_s
    bounded = "duration" in scenario.model_fields_set
    if bounded and end_s >= scenario.duration:
        return PlanOutline(count, True, scenario.duration, False)
    return PlanOutline(count, True, end_s, True)
