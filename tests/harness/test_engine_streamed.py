"""The engine fed a streamed plan (``Engine.run_units``): the same attempts as the whole plan,
sessions held only while they go, and after a stop one record for every request drawn."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import numpy as np

from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.contract.target import Backoff, RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig
from tests.harness.test_engine import ScriptedSender
from workloads.plan_stream import iter_units
from workloads.planner import build_plan
from workloads.scenario import Scenario, parse_scenario


def _scenario(duration_s: float) -> Scenario:
    return parse_scenario(
        {
            "seed": 9,
            "duration": duration_s,
            "arrival": {"process": "poisson", "rate": 4},
            "workload": [
                {"kind": "chat", "turns": {"dist": "constant", "value": 3}, "think_time": "2s"},
                {"kind": "batch", "share": 0.1, "requests": 5, "spacing": "0.5s"},
                {
                    "kind": "agent_loop",
                    "turns": {"dist": "constant", "value": 2},
                    "subagents": {"probability": 1.0, "turns": {"dist": "constant", "value": 2}},
                },
            ],
        }
    )


def _run(
    send: Any, virtual: Any, duration_s: float, stop_at_s: float | None = None
) -> list[AttemptRecord]:
    records: list[AttemptRecord] = []
    config = EngineConfig(
        run_id="r1",
        duration_s=duration_s,
        drain_s=30.0,
        timeout_s=60.0,
        first_token_timeout_s=None,
        retry=RetryPolicy(attempts=1, backoff=Backoff(base=0.5, max=4.0, jitter=0.0)),
    )
    sender = ScriptedSender(lambda r, a: (Outcome.OK, 0.5, None))

    async def main() -> float:
        loop = asyncio.get_running_loop()
        engine = Engine(config, sender, records.append, now=loop.time, rng=np.random.default_rng(0))
        if stop_at_s is not None:
            loop.call_later(stop_at_s, engine.request_stop, 1.0)
        return float(await send(engine))

    virtual(main)
    return records


def _attempts(records: list[AttemptRecord]) -> list[tuple[str, str, float, float | None]]:
    return sorted((r.request_id, r.outcome, r.scheduled_s, r.sent_s) for r in records)


def test_a_streamed_plan_sends_what_the_whole_plan_sends(virtual: Any) -> None:
    scenario = _scenario(40.0)
    whole = _run(lambda e: e.run(build_plan(scenario)), virtual, 40.0)
    streamed = _run(lambda e: e.run_units(iter_units(scenario)), virtual, 40.0)
    assert len(whole) > 300
    assert _attempts(streamed) == _attempts(whole)


def test_sessions_are_held_only_while_they_go(virtual: Any) -> None:
    scenario = _scenario(120.0)
    alive: list[int] = []

    def watched() -> Iterator[list[PlannedRequest]]:
        for index, unit in enumerate(iter_units(scenario)):
            if index % 50 == 0:
                alive.append(sum(isinstance(o, PlannedRequest) for o in gc.get_objects()))
            yield unit

    records = _run(lambda e: e.run_units(watched()), virtual, 120.0)
    assert len(records) > 1_500
    # A few seconds of sessions in flight (about 4/s, each up to ~10 s long), never the run.
    assert max(alive) < 400


def test_after_a_stop_every_drawn_request_has_one_record(virtual: Any) -> None:
    scenario = _scenario(60.0)
    drawn: list[str] = []

    def watched() -> Iterator[list[PlannedRequest]]:
        for unit in iter_units(scenario):
            drawn.extend(request.request_id for request in unit)
            yield unit

    records = _run(lambda e: e.run_units(watched()), virtual, 60.0, stop_at_s=20.0)
    assert sorted(r.request_id for r in records) == sorted(drawn)
    assert len(drawn) < len(build_plan(scenario)) / 2
    assert any(r.outcome == "cancelled" for r in records)
