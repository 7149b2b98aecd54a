"""The streamed plan: built unit by unit, it equals the plan built whole, request for request,
for every workload kind, with sub-agents, traces, shapes and ``[arrival] requests``."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import harness
from harness.contract.records import PlannedRequest
from harness.contract.traffic import Arrival
from workloads.arrivals import iter_session_offsets_s, session_offsets_s
from workloads.plan_stream import PlanOrder, in_plan_order, iter_units, outline, plan_key
from workloads.planner import plan_run
from workloads.scenario import Scenario, parse_scenario

TRACE = Path(harness.__file__).parent / "data" / "traces" / "conversation_trace.jsonl"
KINDS = ["stream", "chat", "agent_loop", "rag", "batch", "embed", "probe"]


@st.composite
def workloads_(draw: st.DrawFn) -> list[dict[str, Any]]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3))
    configs: list[dict[str, Any]] = []
    for kind in kinds:
        config: dict[str, Any] = {"kind": kind, "share": draw(st.floats(0.2, 3.0))}
        if kind in ("chat", "agent_loop"):
            config["turns"] = {"dist": "geometric", "mean": draw(st.floats(1.0, 3.0)), "max": 5}
        if kind == "chat":
            config["think_time"] = draw(st.sampled_from([0, "0.4s"]))
        if kind == "agent_loop" and draw(st.booleans()):
            config["subagents"] = {"probability": 0.5, "turns": {"dist": "constant", "value": 2}}
        if kind in ("stream", "chat", "rag") and draw(st.booleans()):
            config["repeat"] = {
                "share": draw(st.floats(0.1, 0.9)),
                "paraphrase_share": draw(st.floats(0.0, 1.0)),
                "similarity": {"dist": "uniform", "min": 0.6, "max": 0.99},
                "popularity_zipf_s": draw(st.sampled_from([0.0, 1.1])),
                "recency": draw(st.sampled_from([None, "2s"])),
            }
            if config["repeat"]["recency"] is None:
                del config["repeat"]["recency"]
        if kind == "rag" and draw(st.booleans()):
            config["embed_query"] = True
        configs.append(config)
    return configs


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    arrival: dict[str, Any] = {
        "process": draw(st.sampled_from(["constant", "poisson", "gamma"])),
        "rate": draw(st.floats(0.5, 8.0)),
    }
    if draw(st.booleans()):
        arrival["shape"] = [{"kind": "ramp", "length": "2s", "start": 0.2}]
    if draw(st.booleans()):
        arrival["requests"] = draw(st.integers(1, 40))
    config: dict[str, Any] = {"seed": draw(st.integers(-(2**40), 2**40)), "arrival": arrival}
    if "requests" not in arrival or "shape" in arrival or draw(st.booleans()):
        config["duration"] = draw(st.floats(0.5, 8.0))
    with_trace = draw(st.booleans())
    if not with_trace or draw(st.booleans()):
        config["workload"] = draw(workloads_())
    if with_trace:
        config["trace"] = {"path": str(TRACE), "end": "3s", "time_scale": 0.05}
    return parse_scenario(config)


def _streamed(scenario: Scenario) -> list[PlannedRequest]:
    return list(in_plan_order(iter_units(scenario)))


@settings(max_examples=25, deadline=None)
@given(scenarios())
def test_the_streamed_plan_equals_the_whole_plan(scenario: Scenario) -> None:
    whole = plan_run(scenario)
    assert _streamed(scenario) == whole.plan
    counted = outline(scenario, limit=10_000)
    assert counted.complete
    assert counted.requests == len(whole.plan)
    assert counted.duration_s == whole.duration_s
    assert counted.cut_by_requests == whole.cut_by_requests


@settings(max_examples=30, deadline=None)
@given(scenarios())
def test_units_come_in_the_order_of_their_first_request(scenario: Scenario) -> None:
    firsts = [plan_key(unit[0]) for unit in iter_units(scenario)]
    assert firsts == sorted(firsts)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["constant", "poisson", "gamma"]),
    st.floats(0.1, 50.0),
    st.floats(0.0, 300.0),
    st.booleans(),
)
def test_streamed_offsets_equal_the_whole_list(
    process: str, rate: float, duration_s: float, shaped: bool
) -> None:
    config: dict[str, Any] = {"process": process, "rate": rate, "cv": 2.0}
    if shaped:
        config["shape"] = [{"kind": "diurnal", "period": "60s"}]
    arrival = Arrival.model_validate(config)
    whole = session_offsets_s(arrival, duration_s, np.random.default_rng(5))
    streamed = list(iter_session_offsets_s(arrival, duration_s, np.random.default_rng(5)))
    assert streamed == whole


def test_an_endless_horizon_keeps_drawing() -> None:
    arrival = Arrival.model_validate({"process": "poisson", "rate": 1000.0})
    offsets = iter_session_offsets_s(arrival, math.inf, np.random.default_rng(1))
    first = list(itertools.islice(offsets, 20_000))
    assert len(first) == 20_000
    assert first == sorted(first)


def test_a_long_plan_is_held_by_the_sessions_in_flight_not_the_length() -> None:
    """An hour of a chat mix at 20 sessions/s: the order buffer never holds more than the
    sessions overlapping in time (a few minutes' worth), not the hour's."""
    scenario = parse_scenario(
        {
            "seed": 1,
            "duration": "1h",
            "arrival": {"process": "poisson", "rate": 20},
            "workload": [{"kind": "chat", "turns": {"dist": "constant", "value": 3}}],
        }
    )
    order = PlanOrder()
    held = 0
    released = 0
    for unit in itertools.islice(iter_units(scenario), 20_000):
        released += len(order.add(unit))
        held = max(held, len(order))
    assert released > 50_000
    assert held < 5_000


def test_outline_stops_at_its_limit_without_requests() -> None:
    scenario = parse_scenario(
        {"seed": 2, "duration": "1h", "arrival": {"rate": 50}, "workload": [{"kind": "stream"}]}
    )
    seen: list[float] = []
    counted = outline(scenario, limit=1_000, observe=lambda r: seen.append(r.offset_s))
    assert (counted.requests, counted.complete) == (1_000, False)
    assert len(seen) == 1_000
    assert counted.duration_s == 3600.0
