"""The planner: a validated ``Scenario`` in, the full plan (``list[PlannedRequest]``) out.

Pure and deterministic: the same scenario and seed give the same plan byte for byte. Each
purpose draws from its own RNG stream derived from the scenario seed (``workloads.seeds``):
session arrivals, the workload each session runs, and one stream per session. So adding a
workload moves no arrival, and a longer duration keeps the shorter run's sessions as they were.

``[arrival] requests = N`` stops the plan after N requests (``workloads.request_cap``): sessions
start as the arrival process says until N requests are planned, the last session keeps only
its first turns, and no further session starts. Without an explicit ``duration`` the arrivals
run as long as N requests need, and the run's steady phase (``PlannedRun.duration_s``) is
derived: the last planned offset plus one mean gap between session starts (N / rate for a
constant process of single requests). With ``duration`` given too, whichever ends first wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.contract.records import PlannedRequest
from harness.contract.traffic import Arrival
from workloads import seeds
from workloads.arrivals import session_offsets_s
from workloads.closed_loop import CLOSED_LOOP, preview_plan
from workloads.fitting import TraceFits
from workloads.kinds import Workload
from workloads.repeats import RepeatBook
from workloads.request_cap import first_requests
from workloads.scenario import Scenario
from workloads.session_mix import (
    DEFAULT_MODEL,
    choose_workloads,
    session_requests,
    workload_tags,
)
from workloads.traces import load_trace, replay_trace

__all__ = [
    "DEFAULT_MODEL",
    "PlannedRun",
    "build_plan",
    "choose_workloads",
    "plan_run",
    "workload_tags",
]

#: How many times the arrival horizon may double while looking for ``requests`` requests.
_MAX_DOUBLINGS = 40


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """A plan and the steady phase its run should have (``scenario.duration`` unless the plan
    was cut by ``[arrival] requests``, see the module docstring)."""

    plan: list[PlannedRequest]
    duration_s: float
    #: True when ``[arrival] requests`` ended the plan before any duration did.
    cut_by_requests: bool = False
    #: A closed-loop scenario: the plan is a preview of its first sessions (the run draws
    #: sessions as slots free up, ``workloads.closed_loop``), every one starting at 0.
    closed_loop: bool = False


def build_plan(scenario: Scenario) -> list[PlannedRequest]:
    """Every planned request of ``scenario`` (see ``plan_run``)."""
    return plan_run(scenario).plan


def plan_run(scenario: Scenario) -> PlannedRun:
    """Every planned request of ``scenario``, sorted by ``offset_s`` (ties: session, turn).

    ``prompt_tokens`` of a request is what the plan knows: the tokens of every message its
    session has planned so far, this turn included. The answers of earlier turns, which the
    engine re-sends too, are unknown until the run. A ``[trace]`` adds its replayed rows
    (``workloads.traces``; reading the trace file is the planner's only I/O), beside the
    synthetic workloads if there are any. Distributions and arrivals that name a trace are
    fitted to it first (``workloads.fitting``). ``TraceError`` if a trace cannot be read.
    """
    if scenario.arrival.process == CLOSED_LOOP:
        return PlannedRun(preview_plan(scenario), scenario.duration, closed_loop=True)
    requests = scenario.arrival.requests
    bounded = requests is None or "duration" in scenario.model_fields_set
    fits = TraceFits()
    arrival = fits.arrival(scenario.arrival)
    plan = _synthetic_plan(scenario, fits, arrival, bounded) if scenario.workload else []
    if scenario.trace is not None:
        trace = scenario.trace
        rows = load_trace(Path(trace.path), trace.format, trace.columns)
        plan.extend(
            replay_trace(
                rows,
                trace,
                seed=scenario.seed,
                api=scenario.target.api,
                model=trace.model or scenario.target.model or DEFAULT_MODEL,
                stream=scenario.target.stream,
            )
        )
    # Ties on offset (zero think time) keep turn order numeric: "-t10" sorts before "-t2".
    plan.sort(key=lambda request: (request.offset_s, request.session_id, request.turn))
    if requests is None or len(plan) < requests:
        return PlannedRun(plan, scenario.duration)
    plan = first_requests(plan, requests)
    gap_s = 1.0 / arrival.rate if scenario.workload and arrival.rate > 0 else _mean_gap_s(plan)
    end_s = plan[-1].offset_s + gap_s
    if bounded and end_s >= scenario.duration:
        return PlannedRun(plan, scenario.duration)
    return PlannedRun(plan, end_s, cut_by_requests=True)


def _mean_gap_s(plan: Sequence[PlannedRequest]) -> float:
    """The mean gap between session starts of a plan (1 s with fewer than two sessions)."""
    starts = sorted(r.offset_s for r in plan if r.turn == 1 and not r.spawned_by)
    if len(starts) < 2 or starts[-1] <= starts[0]:
        return 1.0
    return (starts[-1] - starts[0]) / (len(starts) - 1)


def _synthetic_plan(
    scenario: Scenario, fits: TraceFits, arrival: Arrival, bounded: bool
) -> list[PlannedRequest]:
    """The sessions of the synthetic workloads: those starting before ``duration`` when
    ``bounded``, else as many as ``[arrival] requests`` needs (at least that many requests)."""
    fitted = [fits.workload(workload) for workload in scenario.workload]
    wanted = scenario.arrival.requests
    horizon_s = scenario.duration
    if not bounded and wanted is not None and arrival.rate > 0:
        horizon_s = wanted / arrival.rate
    plan: list[PlannedRequest] = []
    built = 0
    repeats = RepeatBook(scenario.seed)
    for _ in range(_MAX_DOUBLINGS):
        offsets_s = session_offsets_s(
            arrival, horizon_s, seeds.rng_stream(scenario.seed, seeds.ARRIVALS)
        )
        built = _build_sessions(scenario, fitted, offsets_s, built, wanted, plan, repeats)
        if bounded or wanted is None or len(plan) >= wanted or arrival.rate <= 0:
            break
        # Arrival draws are a prefix of a longer horizon's: the sessions built stay valid.
        horizon_s *= 2.0
    return plan


def _build_sessions(
    scenario: Scenario,
    fitted: Sequence[Workload],
    offsets_s: Sequence[float],
    first_index: int,
    wanted: int | None,
    plan: list[PlannedRequest],
    repeats: RepeatBook,
) -> int:
    """Append the sessions from ``first_index`` on to ``plan`` (stopping once it holds
    ``wanted`` requests); the index of the next session to build."""
    choices = choose_workloads(
        [workload.share for workload in fitted],
        len(offsets_s),
        seeds.rng_stream(scenario.seed, seeds.WORKLOAD_CHOICE),
    )
    tags = [workload_tags(workload) for workload in fitted]
    target = (scenario.target.api, scenario.target.model, scenario.target.stream)
    for index in range(first_index, len(offsets_s)):
        if wanted is not None and len(plan) >= wanted:
            return index
        choice = choices[index]
        plan.extend(
            session_requests(
                scenario.seed,
                target,
                fitted[choice],
                tags[choice],
                index,
                offsets_s[index],
                choice,
                repeats,
            )
        )
    return len(offsets_s)
