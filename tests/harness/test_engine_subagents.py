"""Sub-agent sessions on a virtual clock: started by their parent turn, awaited by the next
one, cancelled with a failed parent, and every planned request recorded exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.client.http import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedMessage, PlannedRequest
from harness.contract.target import RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig, LiveStats
from workloads.planner import build_plan
from workloads.scenario import parse_scenario

#: request id -> (outcome, latency in seconds)
Script = Callable[[str], tuple[Outcome, float]]


class Sender:
    """Answers each request after its scripted latency with its scripted outcome."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sent: dict[str, int] = {}  # request id -> messages sent

    async def send(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        max_tokens: int,
        stream: bool,
        timeout_s: float,
        first_token_timeout_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        keep_text: bool = False,
        client_prompt_tokens: int | None = None,
    ) -> AttemptResult:
        assert headers is not None
        request_id = headers["x-tokenstorm-request-id"]
        self.sent[request_id] = len(messages)
        loop = asyncio.get_running_loop()
        sent_s = loop.time()
        outcome, latency_s = self.script(request_id)
        await asyncio.sleep(latency_s)
        ok = outcome is Outcome.OK
        return AttemptResult(
            sent_s=sent_s,
            first_byte_s=sent_s,
            first_token_s=sent_s if ok else None,
            done_s=loop.time(),
            status_code=200 if ok else 500,
            outcome=outcome,
            prompt_tokens=client_prompt_tokens,
            completion_tokens=2 if ok else None,
            cached_tokens=0,
            usage_source="server" if ok else None,
            model=model,
            deployment="d",
            error_detail=None,
            token_times_s=(),
            retry_after_s=None,
            fault=None,
            text="an answer" if keep_text else "",
        )


def _turn(
    session: str,
    turn: int,
    offset_s: float = 0.0,
    think_s: float = 0.0,
    spawned_by: str = "",
    waits_for: tuple[str, ...] = (),
) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"{session}-t{turn}",
        session_id=session,
        turn=turn,
        offset_s=offset_s,
        think_s=think_s,
        prompt_tokens=3,
        max_tokens=4,
        model="m",
        api="openai-chat",
        stream=True,
        messages=(PlannedMessage(role="user", tokens=3, seed=turn),),
        spawned_by=spawned_by,
        waits_for=waits_for,
    )


def _family(
    children: int = 2, child_turns: int = 2, parent_turns: int = 3, think_s: float = 0.5
) -> list[PlannedRequest]:
    """Parent ``p``: its turn 1 spawns ``children`` sub-agents, turn 2 waits for them."""
    kids = tuple(f"p-sub1-{i}" for i in range(children))
    plan = [_turn("p", 1, offset_s=1.0)]
    plan += [
        _turn("p", n, 1.0, think_s, waits_for=kids if n == 2 else ())
        for n in range(2, parent_turns + 1)
    ]
    plan += [
        _turn(kid, n, 1.0, think_s if n > 1 else 0.0, spawned_by="p-t1")
        for kid in kids
        for n in range(1, child_turns + 1)
    ]
    return plan


def _run(
    plan: list[PlannedRequest],
    script: Script,
    virtual: Any,
    *,
    duration_s: float = 60.0,
    drain_s: float = 5.0,
    max_sessions: int = 100,
    stats: LiveStats | None = None,
) -> tuple[dict[str, AttemptRecord], Sender]:
    records: list[AttemptRecord] = []
    sender = Sender(script)
    config = EngineConfig(
        run_id="r",
        duration_s=duration_s,
        drain_s=drain_s,
        timeout_s=60.0,
        first_token_timeout_s=None,
        retry=RetryPolicy(attempts=1),
        max_sessions_in_flight=max_sessions,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        engine = Engine(
            config, sender, records.append, now=loop.time, rng=np.random.default_rng(0), stats=stats
        )
        await engine.run(plan)

    virtual(main)
    counts = Counter(record.request_id for record in records)
    assert counts == Counter(request.request_id for request in plan)  # each exactly once
    return {record.request_id: record for record in records}, sender


def _latency(table: Mapping[str, float], default_s: float = 1.0) -> Script:
    return lambda request_id: (Outcome.OK, table.get(request_id, default_s))


def test_subagents_start_when_the_parent_turn_ends_and_the_next_turn_waits(virtual: Any) -> None:
    plan = _family()
    slow = {"p-sub1-1-t2": 4.0}
    by_id, sender = _run(plan, _latency(slow), virtual)
    assert all(record.outcome == "ok" for record in by_id.values())
    parent_done = by_id["p-t1"].done_s
    assert by_id["p-sub1-0-t1"].scheduled_s == by_id["p-sub1-1-t1"].scheduled_s == parent_done
    assert by_id["p-sub1-0-t2"].scheduled_s == by_id["p-sub1-0-t1"].done_s + 0.5  # type: ignore[operator]
    last_child_done = max(by_id[f"p-sub1-{i}-t2"].done_s or 0.0 for i in (0, 1))
    assert last_child_done == by_id["p-sub1-1-t2"].done_s
    assert by_id["p-t2"].scheduled_s == last_child_done + 0.5
    assert by_id["p-t3"].scheduled_s == by_id["p-t2"].done_s + 0.5  # type: ignore[operator]
    # Each session keeps its own history: sub-agents do not see the parent's.
    assert sender.sent == {
        "p-t1": 1,
        "p-t2": 3,
        "p-t3": 5,
        "p-sub1-0-t1": 1,
        "p-sub1-0-t2": 3,
        "p-sub1-1-t1": 1,
        "p-sub1-1-t2": 3,
    }


def test_a_failed_parent_turn_cancels_the_subagents_it_would_start(virtual: Any) -> None:
    plan = _family()

    def script(request_id: str) -> tuple[Outcome, float]:
        return (Outcome.HTTP_5XX if request_id == "p-t1" else Outcome.OK), 1.0

    by_id, sender = _run(plan, script, virtual)
    assert list(sender.sent) == ["p-t1"]
    for request in plan[1:]:
        record = by_id[request.request_id]
        assert record.outcome == "cancelled" and record.sent_s is None
        assert "turn 1 failed" in (record.error_detail or "")
    assert "parent session p" in (by_id["p-sub1-0-t1"].error_detail or "")


def test_a_failed_subagent_still_releases_its_parent(virtual: Any) -> None:
    def script(request_id: str) -> tuple[Outcome, float]:
        return (Outcome.HTTP_5XX if request_id == "p-sub1-0-t1" else Outcome.OK), 1.0

    by_id, _ = _run(_family(), script, virtual)
    assert by_id["p-sub1-0-t2"].outcome == "cancelled"
    assert by_id["p-t2"].outcome == by_id["p-t3"].outcome == "ok"
    assert by_id["p-t2"].scheduled_s == by_id["p-sub1-1-t2"].done_s + 0.5  # type: ignore[operator]


def test_the_session_limit_drops_subagents_and_the_parent_goes_on(virtual: Any) -> None:
    stats = LiveStats()
    by_id, _ = _run(_family(), _latency({}), virtual, max_sessions=1, stats=stats)
    assert {by_id[f"p-sub1-{i}-t{n}"].outcome for i in (0, 1) for n in (1, 2)} == {"dropped"}
    assert stats.dropped == 4
    assert by_id["p-t2"].scheduled_s == by_id["p-t1"].done_s + 0.5  # type: ignore[operator]


def test_the_deadline_records_subagents_in_flight_and_never_started(virtual: Any) -> None:
    # Sub-agents never answer; the run ends at duration + drain with everything recorded.
    by_id, _ = _run(
        _family(),
        _latency({"p-sub1-0-t1": 1e9, "p-sub1-1-t1": 1e9}),
        virtual,
        duration_s=10.0,
        drain_s=2.0,
    )
    assert by_id["p-sub1-0-t1"].outcome == "cancelled" and by_id["p-sub1-0-t1"].sent_s
    assert by_id["p-sub1-0-t2"].sent_s is None and by_id["p-t2"].sent_s is None


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**20), fail_every=st.integers(2, 9), duration_s=st.floats(2.0, 30.0))
def test_planned_fan_out_runs_with_every_request_recorded_once(
    seed: int, fail_every: int, duration_s: float, virtual: Any
) -> None:
    scenario = parse_scenario(
        {
            "seed": seed,
            "duration": duration_s,
            "arrival": {"rate": 1},
            "workload": [
                {
                    "kind": "agent_loop",
                    "turns": {"dist": "uniform", "min": 1, "max": 5},
                    "subagents": {
                        "probability": 0.6,
                        "turns": {"dist": "uniform", "min": 1, "max": 3},
                        "count": {"dist": "uniform", "min": 0, "max": 3},
                    },
                }
            ],
        }
    )
    plan = build_plan(scenario)

    def script(request_id: str) -> tuple[Outcome, float]:
        failed = sum(map(ord, request_id)) % fail_every == 0
        return (Outcome.HTTP_5XX if failed else Outcome.OK), 0.7

    by_id, _ = _run(plan, script, virtual, duration_s=duration_s, drain_s=1.0)
    for request in plan:
        record = by_id[request.request_id]
        if request.spawned_by and record.sent_s is not None:
            parent = by_id[request.spawned_by]
            assert parent.outcome == "ok" and parent.done_s is not None
            assert record.sent_s >= parent.done_s
        sent_s = record.sent_s
        if sent_s is None or not request.waits_for:
            continue
        for other in plan:  # every sub-agent it waits for has ended before it is sent
            done_s = by_id[other.request_id].done_s
            if other.session_id in request.waits_for and done_s is not None:
                assert sent_s >= done_s
