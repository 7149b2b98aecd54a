"""The session flow on a fake clock (``fake_driver``): turn order and think time, history,
retries with retry-after and backoff, sub-agents and ``waits_for``, the session limit, and
what the duration, a stop and the hard deadline leave unsent."""

from __future__ import annotations

import dataclasses

import numpy as np

from harness.contract.apis import OPENAI_EMBEDDINGS
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord
from harness.engine_config import LiveStats
from harness.session_flow.flow import SessionFlow
from harness.session_flow.steps import Send
from tests.harness.session_flow.fake_driver import FakeDriver, answer_of, config
from tests.harness.test_engine_subagents import _turn as request

WORDS = request("s", 1).messages[0].tokens  # a planned turn's own prompt, in the mock's words
ANSWER_WORDS = len(answer_of(Outcome.OK, 0.0, 1.0, None, True).text.split())


def _by_id(records: list[AttemptRecord]) -> dict[str, AttemptRecord]:
    """The last record of each request."""
    return {r.request_id: r for r in records}


def test_turns_follow_the_answer_plus_think_time_and_carry_the_history() -> None:
    plan = [request("s", 1), request("s", 2, think_s=0.5), request("s", 3, think_s=0.25)]
    driver = FakeDriver()
    records = driver.run(plan)
    assert [r.request_id for r in records] == ["s-t1", "s-t2", "s-t3"]
    one, two, three = records
    assert one.done_s is not None and two.done_s is not None
    assert two.scheduled_s == one.done_s + 0.5 and three.scheduled_s == two.done_s + 0.25
    assert all(r.sent_s == r.scheduled_s for r in records)  # a fake clock has no lag
    assert [len(s.args["messages"]) for s in driver.sent] == [1, 3, 5]
    per_turn = WORDS + ANSWER_WORDS
    assert [r.planned_prompt_tokens for r in records] == [
        WORDS,
        WORDS + per_turn,
        WORDS + 2 * per_turn,
    ]
    assert [s.args["keep_text"] for s in driver.sent] == [True, True, False]
    assert [s.wait for s in driver.sent] == [False, True, True]  # a root's first turn is due
    assert len(driver.flow) == 0 and driver.flow.running == 0


def test_a_root_starts_at_its_offset_or_at_the_time_its_slot_freed() -> None:
    flow: SessionFlow[str] = SessionFlow(
        config(), LiveStats(), np.random.default_rng(0), lambda r: None, lambda s: "task"
    )
    first, second = flow.add([request("a", 1, offset_s=2.5), request("b", 1, offset_s=1.0)])
    assert [s.turns[0].session_id for s in (first, second)] == ["b", "a"]  # by offset
    assert flow.start(first) == "task"
    step = flow.begin(first, now_s=1.2)
    assert isinstance(step, Send) and (step.scheduled_s, step.wait) == (1.0, False)
    flow.start(second, start_s=7.0)  # the closed loop: intended when the slot freed
    step = flow.begin(second, now_s=7.1)
    assert isinstance(step, Send) and step.scheduled_s == 7.0
    assert step.args["headers"]["x-tokenstorm-request-id"] == "a-t1"


def test_retries_follow_retry_after_then_backoff_with_the_same_messages() -> None:
    def script(_request_id: str, attempt: int) -> tuple[Outcome, float, float | None]:
        if attempt == 1:
            return Outcome.HTTP_429, 0.1, 2.0  # the server asks for 2 s
        if attempt == 2:
            return Outcome.HTTP_429, 0.1, None  # no hint: backoff base * 2
        return Outcome.OK, 0.2, None

    driver = FakeDriver(script, config(attempts=3))
    records = driver.run([request("s", 1)])
    assert [(r.attempt, r.outcome) for r in records] == [
        (1, "http_429"),
        (2, "http_429"),
        (3, "ok"),
    ]
    backoff = driver.config.retry.backoff
    assert records[1].scheduled_s == records[0].done_s + 2.0  # type: ignore[operator]
    assert abs(records[2].scheduled_s - records[1].done_s - backoff.base * 2) < 1e-9  # type: ignore[operator]
    headers = [s.args["headers"]["x-tokenstorm-attempt"] for s in driver.sent]
    assert headers == ["1", "2", "3"]
    assert all(s.args["messages"] is driver.sent[0].args["messages"] for s in driver.sent)
    stats = driver.stats
    assert (stats.sent, stats.failed_attempts, stats.requests_done, stats.requests_failed) == (
        3,
        2,
        1,
        0,
    )


def test_a_retry_due_past_the_hard_deadline_fails_the_turn_and_its_session() -> None:
    cfg = config(duration_s=5.0, drain_s=1.0, attempts=3)
    driver = FakeDriver(lambda r, a: (Outcome.HTTP_429, 1.0, 30.0), cfg)
    records = driver.run([request("s", 1), request("s", 2, think_s=1.0)])
    assert [(r.request_id, r.attempt, r.outcome) for r in records] == [
        ("s-t1", 1, "http_429"),
        ("s-t2", 1, "cancelled"),
    ]
    assert records[1].error_detail == "session ended: turn 1 failed"
    assert records[1].scheduled_s == records[0].done_s  # recorded when the turn failed
    assert driver.stats.requests_failed == 1


def test_subagents_start_after_their_parent_turn_and_waits_for_holds_the_next_turn() -> None:
    latency_s = {"c1-t1": 3.0, "c1-t2": 1.0, "c2-t1": 0.5}
    plan = [
        request("p", 1),
        request("p", 2, think_s=0.5, waits_for=("c1", "c2")),
        request("c1", 1, think_s=0.1, spawned_by="p-t1"),
        request("c1", 2, think_s=0.2),
        request("c2", 1, spawned_by="p-t1"),
    ]
    driver = FakeDriver(lambda r, a: (Outcome.OK, latency_s.get(r, 1.0), None))
    by_id = _by_id(driver.run(plan))
    parent_done = by_id["p-t1"].done_s
    assert parent_done is not None
    assert by_id["c1-t1"].scheduled_s == parent_done + 0.1
    assert by_id["c2-t1"].scheduled_s == parent_done
    last_child = max(by_id["c1-t2"].done_s or 0.0, by_id["c2-t1"].done_s or 0.0)
    assert by_id["p-t2"].scheduled_s == last_child + 0.5
    assert all(r.outcome == "ok" for r in by_id.values())


def test_a_failed_parent_cancels_its_unstarted_subagents_and_the_limit_drops_some() -> None:
    plan = [request("p", 1), request("c", 1, spawned_by="p-t1"), request("c", 2)]
    driver = FakeDriver(lambda r, a: (Outcome.HTTP_5XX, 1.0, None))
    by_id = _by_id(driver.run(plan))
    assert by_id["c-t1"].outcome == by_id["c-t2"].outcome == "cancelled"
    assert by_id["c-t1"].error_detail == "parent session p: session ended: turn 1 failed"
    assert by_id["c-t1"].sent_s is None
    plan = [
        request("p", 1),
        request("c1", 1, spawned_by="p-t1"),
        request("c2", 1, spawned_by="p-t1"),
    ]
    limited = FakeDriver(config=dataclasses.replace(config(), max_sessions_in_flight=2))
    by_id = _by_id(limited.run(plan))
    outcomes = sorted(by_id[s].outcome for s in ("c1-t1", "c2-t1"))
    assert outcomes == ["dropped", "ok"] and limited.stats.dropped == 1


def test_a_turn_due_after_the_duration_is_recorded_unsent_at_its_time() -> None:
    driver = FakeDriver(config=config(duration_s=3.0))
    records = driver.run([request("s", 1), request("s", 2, think_s=2.5), request("s", 3)])
    one, two, three = records
    assert one.done_s is not None and two.sent_s is None
    assert two.scheduled_s == three.scheduled_s == one.done_s + 2.5
    assert two.error_detail == three.error_detail == "run ended before this turn"


def test_a_stop_ends_sleeping_sessions_and_cuts_retries_short() -> None:
    def script(request_id: str, attempt: int) -> tuple[Outcome, float, float | None]:
        return (
            (Outcome.HTTP_429, 1.0, 5.0) if request_id.startswith("b") else (Outcome.OK, 1.0, None)
        )

    plan = [request("a", 1), request("a", 2, think_s=4.0), request("b", 1), request("c", 1, 9.0)]
    driver = FakeDriver(script, config(attempts=3), stop_s=2.0)
    by_id = _by_id(driver.run(plan))
    assert by_id["a-t2"].error_detail == "run stopped before this turn"
    assert by_id["a-t2"].scheduled_s == (by_id["a-t1"].done_s or 0.0) + 4.0
    assert (by_id["b-t1"].attempt, by_id["b-t1"].outcome) == (1, "http_429")  # retry never sent
    assert by_id["c-t1"].error_detail == "run ended before this session started"
    assert driver.stats.requests_failed == 1 and driver.flow.running == 0


def test_the_hard_deadline_cancels_the_attempt_in_flight_and_the_turns_after_it() -> None:
    cfg = config(duration_s=2.0, drain_s=3.0)
    driver = FakeDriver(lambda r, a: (Outcome.OK, 1e9, None), cfg)
    records = driver.run([request("s", 1), request("s", 2)])
    assert [(r.request_id, r.outcome) for r in records] == [
        ("s-t1", "cancelled"),
        ("s-t2", "cancelled"),
    ]
    assert records[0].sent_s == 0.0 and records[0].done_s == cfg.duration_s + cfg.drain_s
    assert (
        records[1].sent_s is None
        and records[1].error_detail == "run deadline reached before this turn"
    )
    assert driver.stats.in_flight == 0 and len(driver.flow) == 0


def test_an_embeddings_turn_goes_alone_and_stays_out_of_the_history() -> None:
    embed = dataclasses.replace(request("s", 2), api=OPENAI_EMBEDDINGS)
    fresh = dataclasses.replace(request("s", 4), resend_history=False)
    driver = FakeDriver()
    driver.run([request("s", 1), embed, request("s", 3), fresh])
    assert [len(s.args["messages"]) for s in driver.sent] == [1, 1, 3, 1]
    roles = [m["role"] for m in driver.sent[2].args["messages"]]
    assert roles == ["user", "assistant", "user"]  # turn 1, its answer, turn 3


def test_a_session_killed_before_it_ran_is_recorded_by_finish() -> None:
    records: list[AttemptRecord] = []
    flow: SessionFlow[str] = SessionFlow(
        config(), LiveStats(), np.random.default_rng(0), records.append, lambda s: "task"
    )
    started, waiting = flow.add([request("a", 1), request("a", 2), request("b", 1, offset_s=5.0)])
    flow.start(started)
    flow.finish(now_s=3.0)
    assert [(r.request_id, r.error_detail, r.scheduled_s) for r in records] == [
        ("a-t1", "run deadline reached before this turn", 3.0),
        ("a-t2", "run deadline reached before this turn", 3.0),
        ("b-t1", "run ended before this session started", 3.0),
    ]
    assert waiting.ended and len(flow) == 0 and flow.running == 0
