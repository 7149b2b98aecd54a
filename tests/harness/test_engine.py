"""The engine on a virtual clock with a scripted sender: schedule, sessions, retries, deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.client.http import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedMessage, PlannedRequest
from harness.contract.target import Backoff, RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig, LiveStats

Script = Callable[[str, int], tuple[Outcome, float, float | None]]


def _ok(_request_id: str, _attempt: int) -> tuple[Outcome, float, float | None]:
    return Outcome.OK, 1.0, None


@dataclass
class ScriptedSender:
    """Answers after a scripted latency with a scripted outcome, on the loop's clock."""

    script: Script = _ok
    calls: list[tuple[str, int, float, int]] = field(default_factory=list)

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
        attempt = int(headers["x-tokenstorm-attempt"])
        loop = asyncio.get_running_loop()
        sent_s = loop.time()
        self.calls.append((request_id, attempt, sent_s, len(messages)))
        outcome, latency_s, wait_s = self.script(request_id, attempt)
        await asyncio.sleep(min(latency_s, timeout_s))
        done_s = loop.time()
        ok = outcome is Outcome.OK
        return AttemptResult(
            sent_s=sent_s,
            first_byte_s=sent_s + 0.01,
            first_token_s=sent_s + 0.1 if ok else None,
            done_s=done_s,
            status_code=200 if ok else 429,
            outcome=outcome,
            prompt_tokens=client_prompt_tokens,
            completion_tokens=3 if ok else None,
            cached_tokens=0,
            usage_source="server" if ok else None,
            model=model,
            deployment="d",
            error_detail=None,
            token_times_s=(),
            retry_after_s=wait_s,
            fault=None,
            text="one two three" if keep_text else "",
        )


def _request(session: int, turn: int, offset_s: float, think_s: float = 0.0) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"s{session}-t{turn}",
        session_id=f"s{session}",
        turn=turn,
        offset_s=offset_s,
        think_s=think_s,
        prompt_tokens=4,
        max_tokens=8,
        model="m",
        api="openai-chat",
        stream=True,
        messages=(PlannedMessage(role="user", tokens=4, seed=session * 100 + turn),),
        tags={"workload": "test"},
    )


def _run(
    plan: list[PlannedRequest],
    sender: ScriptedSender,
    virtual: Any,
    *,
    duration_s: float = 10.0,
    drain_s: float = 5.0,
    attempts: int = 1,
    stop_at_s: float | None = None,
    stats: LiveStats | None = None,
) -> tuple[list[AttemptRecord], float]:
    records: list[AttemptRecord] = []
    policy = RetryPolicy(attempts=attempts, backoff=Backoff(base=0.5, max=4.0, jitter=0.0))
    config = EngineConfig(
        run_id="r1",
        duration_s=duration_s,
        drain_s=drain_s,
        timeout_s=60.0,
        first_token_timeout_s=None,
        retry=policy,
    )

    async def main() -> float:
        loop = asyncio.get_running_loop()
        engine = Engine(
            config, sender, records.append, now=loop.time, rng=np.random.default_rng(0), stats=stats
        )
        if stop_at_s is not None:
            loop.call_later(stop_at_s, engine.request_stop, 1.0)
        return await engine.run(plan)

    end_s = virtual(main)
    return records, end_s


def test_open_loop_sends_on_time_whatever_is_in_flight(virtual: Any) -> None:
    plan = [_request(i, 1, 0.1 * i) for i in range(5)]
    sender = ScriptedSender(lambda r, a: (Outcome.OK, 3.0, None))  # slow answers
    records, _ = _run(plan, sender, virtual)
    assert [r.outcome for r in records] == ["ok"] * 5
    for record in records:
        assert record.sent_s is not None
        assert abs(record.sent_s - record.scheduled_s) < 1e-6  # no lag on a virtual clock
    assert sorted(r.scheduled_s for r in records) == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_later_turns_wait_for_the_answer_plus_think_time_and_carry_history(virtual: Any) -> None:
    plan = [
        _request(1, 1, 0.0),
        _request(1, 2, 0.5, think_s=0.5),
        _request(1, 3, 1.0, think_s=0.25),
    ]
    sender = ScriptedSender()
    records, _ = _run(plan, sender, virtual)
    by_turn = {r.turn: r for r in records}
    assert by_turn[2].scheduled_s == by_turn[1].done_s + 0.5  # type: ignore[operator]
    assert by_turn[3].scheduled_s == by_turn[2].done_s + 0.25  # type: ignore[operator]
    # history grows: turn 1 sends 1 message, turn 2 sends 3 (user, assistant, user), turn 3 five
    assert [calls[3] for calls in sender.calls] == [1, 3, 5]


def test_retries_follow_retry_after_and_backoff(virtual: Any) -> None:
    def script(request_id: str, attempt: int) -> tuple[Outcome, float, float | None]:
        if attempt == 1:
            return Outcome.HTTP_429, 0.1, 2.0  # server asks for 2 s
        if attempt == 2:
            return Outcome.HTTP_429, 0.1, None  # no hint: backoff 0.5 * 2 = 1 s
        return Outcome.OK, 0.2, None

    records, _ = _run([_request(1, 1, 0.0)], ScriptedSender(script), virtual, attempts=3)
    assert [r.attempt for r in records] == [1, 2, 3]
    assert records[1].scheduled_s - records[0].done_s == 2.0  # type: ignore[operator]
    assert abs(records[2].scheduled_s - records[1].done_s - 1.0) < 1e-6  # type: ignore[operator]
    assert records[-1].outcome == "ok"


def test_no_retry_without_a_policy_and_failed_turn_ends_the_session(virtual: Any) -> None:
    plan = [_request(1, 1, 0.0), _request(1, 2, 0.0, think_s=1.0)]
    sender = ScriptedSender(lambda r, a: (Outcome.HTTP_5XX, 0.1, None))
    records, _ = _run(plan, sender, virtual, attempts=1)
    assert [(r.turn, r.outcome) for r in records] == [(1, "http_5xx"), (2, "cancelled")]
    assert records[1].sent_s is None and "turn 1 failed" in (records[1].error_detail or "")


def test_run_deadline_cancels_in_flight_and_records_it(virtual: Any) -> None:
    plan = [_request(1, 1, 0.0), _request(2, 1, 1.0)]
    sender = ScriptedSender(lambda r, a: (Outcome.OK, 1e9, None))  # never answers
    records, end_s = _run(plan, sender, virtual, duration_s=2.0, drain_s=3.0)
    assert 5.0 <= end_s < 5.1
    assert [r.outcome for r in records] == ["cancelled", "cancelled"]
    assert all(r.sent_s is not None and r.done_s is not None for r in records)


def test_sessions_after_the_duration_are_not_sent(virtual: Any) -> None:
    plan = [_request(1, 1, 0.0), _request(2, 1, 12.0)]
    sender = ScriptedSender()
    records, _ = _run(plan, sender, virtual, duration_s=10.0)
    assert {r.request_id: r.outcome for r in records} == {"s1-t1": "ok", "s2-t1": "cancelled"}
    assert len(sender.calls) == 1


def test_stop_request_stops_scheduling_and_drains(virtual: Any) -> None:
    plan = [_request(i, 1, float(i)) for i in range(10)]
    sender = ScriptedSender(lambda r, a: (Outcome.OK, 0.5, None))
    records, end_s = _run(plan, sender, virtual, duration_s=20.0, stop_at_s=3.2)
    sent = [r for r in records if r.sent_s is not None]
    assert len(sent) == 4  # offsets 0..3
    assert all(r.outcome == "ok" for r in sent)  # in-flight ones were allowed to finish
    assert len(records) == 10 and end_s < 5.0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sessions=st.lists(
        st.tuples(st.floats(0, 5), st.integers(1, 4), st.floats(0, 2)), min_size=1, max_size=8
    ),
    fail_every=st.integers(2, 5),
    attempts=st.integers(1, 3),
)
def test_every_planned_request_gets_records_with_contiguous_attempts(
    sessions: list[tuple[float, int, float]],
    fail_every: int,
    attempts: int,
    virtual: Any,
) -> None:
    plan = [
        _request(i, turn, offset, think_s=think if turn > 1 else 0.0)
        for i, (offset, turns, think) in enumerate(sessions)
        for turn in range(1, turns + 1)
    ]
    counter = iter(range(10_000))

    def script(request_id: str, attempt: int) -> tuple[Outcome, float, float | None]:
        failed = next(counter) % fail_every == 0
        return (Outcome.HTTP_5XX if failed else Outcome.OK), 0.3, None

    records, _ = _run(
        plan, ScriptedSender(script), virtual, duration_s=6.0, drain_s=2.0, attempts=attempts
    )
    by_request: dict[str, list[int]] = {}
    for record in records:
        by_request.setdefault(record.request_id, []).append(record.attempt)
    assert set(by_request) == {p.request_id for p in plan}
    for attempt_numbers in by_request.values():
        assert attempt_numbers == list(range(1, len(attempt_numbers) + 1))
        assert len(attempt_numbers) <= attempts


def test_live_request_counts_agree_with_the_records(virtual: Any) -> None:
    """What abort-on-fail reads: finished logical requests and the failed ones among them."""
    plan = [_request(i, turn, 0.2 * i, think_s=0.1) for i in range(12) for turn in (1, 2)]

    def script(request_id: str, attempt: int) -> tuple[Outcome, float, float | None]:
        failing = request_id.startswith(("s3-", "s7-")) or request_id == "s5-t2"
        return (Outcome.HTTP_5XX if failing and attempt == 1 else Outcome.OK), 0.3, None

    stats = LiveStats()
    records, _ = _run(plan, ScriptedSender(script), virtual, attempts=1, stats=stats)
    final = {r.request_id: r for r in records if r.sent_s is not None}
    assert stats.requests_done == len(final) > 0
    assert stats.requests_failed == sum(r.outcome != "ok" for r in final.values()) == 3
    assert stats.ok == stats.requests_done - stats.requests_failed
    retried = LiveStats()
    _run(plan, ScriptedSender(script), virtual, attempts=2, stats=retried)
    assert (retried.requests_failed, retried.failed_attempts) == (0, 5)  # every turn sent
