"""The worker's engine takes the plan in windows while it runs: a window after a gap (nothing
held meanwhile) is still sent, each root at its offset; it ends only once told the plan ended;
a window after a stop is recorded as never started; what it holds shrinks as sessions end.
The client is a stub answering at once: no network."""

from __future__ import annotations

import time
from typing import Any

import gevent
import numpy as np

from harness.client.exchange import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedMessage, PlannedRequest
from harness.contract.target import RetryPolicy
from harness.engine_config import EngineConfig, LiveStats
from harness.locust.sessions import GeventEngine


def _request(session: int, offset_s: float) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"s{session}-t1",
        session_id=f"s{session}",
        turn=1,
        offset_s=offset_s,
        think_s=0.0,
        prompt_tokens=1,
        max_tokens=1,
        model="m",
        api="openai-chat",
        stream=True,
        messages=(PlannedMessage("user", content="hi"),),
    )


class _Answers:
    """A client that answers every attempt ``ok`` at once."""

    tokenstorm_server = None

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def send(self, **_: Any) -> AttemptResult:
        now_s = self.clock()
        return AttemptResult(
            now_s, now_s, now_s, now_s, 200, Outcome.OK, 1, 1, 0, "server", "m", "d", None, (),
            None, None, "ok",
        )  # fmt: skip


def _engine(records: list[AttemptRecord]) -> GeventEngine:
    start_s = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - start_s

    config = EngineConfig("stream", 5.0, 1.0, 5.0, None, RetryPolicy(attempts=1))
    return GeventEngine(
        config,
        _Answers(time.perf_counter),  # type: ignore[arg-type]
        clock=clock,
        start_s=start_s,
        sink=records.append,
        rng=np.random.default_rng(0),
        stats=LiveStats(),
    )


def test_windows_after_a_gap_are_sent_and_the_engine_waits_for_the_plans_end() -> None:
    records: list[AttemptRecord] = []
    engine = _engine(records)
    held: list[int] = []

    def feed() -> None:
        engine.add([_request(0, 0.05)])
        gevent.sleep(0.4)  # the first is sent; the engine holds nothing meanwhile
        held.append(len(engine._flow))
        engine.add([_request(1, 0.5), _request(2, 0.45)])
        gevent.sleep(0.3)
        engine.end_of_plan()

    feeder = gevent.spawn(feed)
    engine.run()
    feeder.join(timeout=1.0)
    assert held == [0]  # the first session ended and was let go
    assert [(r.request_id, r.outcome) for r in records] == [
        ("s0-t1", "ok"),
        ("s2-t1", "ok"),
        ("s1-t1", "ok"),
    ]
    assert [r.scheduled_s for r in records] == [0.05, 0.45, 0.5]  # each at its offset
    assert len(engine._flow) == 0


def test_a_window_after_a_stop_is_recorded_as_never_started() -> None:
    records: list[AttemptRecord] = []
    engine = _engine(records)

    def feed() -> None:
        engine.add([_request(0, 0.05), _request(1, 3.0)])
        gevent.sleep(0.2)
        engine.request_stop(0.5)
        gevent.sleep(0.4)
        engine.add([_request(2, 0.9)])  # the master had it on its way

    feeder = gevent.spawn(feed)
    engine.run()
    feeder.join(timeout=2.0)
    outcomes = {r.request_id: (r.outcome, r.error_detail) for r in records}
    assert outcomes["s0-t1"] == ("ok", None)
    for later in ("s1-t1", "s2-t1"):
        assert outcomes[later] == ("cancelled", "run ended before this session started")
