"""The planner: a validated ``Scenario`` in, the full plan (``list[PlannedRequest]``) out.

Pure and deterministic: the same scenario and seed give the same plan byte for byte. Each
purpose draws from its own RNG stream derived from the scenario seed (``workloads.seeds``):
session arrivals, the workload each session runs, and one stream per session. So adding a
workload moves no arrival, and a longer duration keeps the shorter run's sessions as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.contract.records import PlannedRequest
from workloads import seeds
from workloads.arrivals import session_offsets_s
from workloads.fitting import TraceFits
from workloads.kinds import Workload, builder_for
from workloads.scenario import Scenario
from workloads.session import SessionContext
from workloads.traces import load_trace, replay_trace

#: The model a request names when neither the workload nor the target names one.
DEFAULT_MODEL = "mock-small"


def choose_workloads(shares: Sequence[float], count: int, rng: np.random.Generator) -> list[int]:
    """For ``count`` sessions, the index of the workload each runs, drawn by normalised share.

    One uniform draw per session, in session order, so the first sessions' choices do not
    depend on how many sessions follow.
    """
    weights = np.asarray(shares, dtype=float)
    cumulative = np.cumsum(weights / weights.sum())
    draws = rng.random(count)
    picks = np.searchsorted(cumulative, draws, side="right")
    # Rounding can leave the last cumulative weight a hair under 1.
    return [int(pick) for pick in np.minimum(picks, len(shares) - 1)]


def workload_tags(workload: Workload) -> dict[str, str]:
    """The tags a workload's requests carry: its own, plus ``workload`` = kind unless given."""
    tags = dict(workload.tags)
    tags.setdefault("workload", workload.kind)
    return tags


def build_plan(scenario: Scenario) -> list[PlannedRequest]:
    """Every planned request of ``scenario``, sorted by ``offset_s`` (ties: session, turn).

    ``prompt_tokens`` of a request is what the plan knows: the tokens of every message its
    session has planned so far, this turn included. The answers of earlier turns, which the
    engine re-sends too, are unknown until the run. A ``[trace]`` adds its replayed rows
    (``workloads.traces``; reading the trace file is the planner's only I/O), beside the
    synthetic workloads if there are any. Distributions and arrivals that name a trace are
    fitted to it first (``workloads.fitting``). ``TraceError`` if a trace cannot be read.
    """
    plan = _synthetic_plan(scenario) if scenario.workload else []
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
    return plan


def _synthetic_plan(scenario: Scenario) -> list[PlannedRequest]:
    fits = TraceFits()
    fitted = [fits.workload(workload) for workload in scenario.workload]
    offsets_s = session_offsets_s(
        fits.arrival(scenario.arrival),
        scenario.duration,
        seeds.rng_stream(scenario.seed, seeds.ARRIVALS),
    )
    choices = choose_workloads(
        [workload.share for workload in fitted],
        len(offsets_s),
        seeds.rng_stream(scenario.seed, seeds.WORKLOAD_CHOICE),
    )
    tags = [workload_tags(workload) for workload in fitted]
    plan: list[PlannedRequest] = []
    for index, (start_s, choice) in enumerate(zip(offsets_s, choices, strict=True)):
        workload = fitted[choice]
        context = SessionContext(
            session_id=f"s{index:06d}",
            session_index=index,
            start_s=start_s,
            api=scenario.target.api,
            model=workload.model or scenario.target.model or DEFAULT_MODEL,
            stream=scenario.target.stream,
            seed=scenario.seed,
            workload_index=choice,
            workload_name=tags[choice]["workload"],
            tags=tags[choice],
        )
        rng = seeds.rng_stream(scenario.seed, seeds.SESSION, index)
        plan.extend(builder_for(workload.kind)(workload, context, rng))
    return plan
