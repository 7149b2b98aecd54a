"""The closed loop on a virtual clock: exactly N sessions in flight, a new one at the instant
one ends, think time holding the slot, the phase's end, the unit supply and a stop."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.client.http import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedMessage, PlannedRequest
from harness.contract.target import RetryPolicy
from harness.engine import Engine
from harness.engine_config import EngineConfig

#: request id -> latency in seconds
Latency = Callable[[str], float]


class CountingSender:
    """Answers after a scripted latency and counts the attempts in flight at every instant."""

    def __init__(self, latency: Latency) -> None:
        self.latency = latency
        self.in_flight = 0
        self.most_in_flight = 0

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
        loop = asyncio.get_running_loop()
        sent_s = loop.time()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency(headers["x-tokenstorm-request-id"]))
        finally:
            self.in_flight -= 1
        return AttemptResult(
            sent_s=sent_s,
            first_byte_s=sent_s,
            first_token_s=sent_s,
            done_s=loop.time(),
            status_code=200,
            outcome=Outcome.OK,
            prompt_tokens=client_prompt_tokens,
            completion_tokens=2,
            cached_tokens=0,
            usage_source="server",
            model=model,
            deployment="d",
            error_detail=None,
            token_times_s=(),
            retry_after_s=None,
            fault=None,
            text="an answer" if keep_text else "",
        )


def _turn(session: int, turn: int, think_s: float = 0.0, root: str = "") -> PlannedRequest:
    name = f"s{session:06d}" + root
    return PlannedRequest(
        request_id=f"{name}-t{turn}",
        session_id=name,
        turn=turn,
        offset_s=0.0,
        think_s=think_s,
        prompt_tokens=4,
        max_tokens=8,
        model="m",
        api="openai-chat",
        stream=True,
        messages=(PlannedMessage(role="user", tokens=4, seed=session * 100 + turn),),
        tags={"workload": "test"},
    )


def _units(turns: int = 1, think_s: float = 0.0) -> Iterator[list[PlannedRequest]]:
    for session in itertools.count():
        yield [_turn(session, t, think_s if t > 1 else 0.0) for t in range(1, turns + 1)]


def _run(
    units: Iterator[Sequence[PlannedRequest]],
    concurrency: int,
    sender: CountingSender,
    virtual: Any,
    *,
    duration_s: float = 10.0,
    drain_s: float = 5.0,
    stop_at_s: float | None = None,
    max_sessions: int = 1_000_000,
) -> tuple[list[AttemptRecord], float]:
    records: list[AttemptRecord] = []
    config = EngineConfig(
        run_id="closed",
        duration_s=duration_s,
        drain_s=drain_s,
        timeout_s=60.0,
        first_token_timeout_s=None,
        retry=RetryPolicy(),
        max_closed_loop_sessions=max_sessions,
    )

    async def main() -> float:
        loop = asyncio.get_running_loop()
        engine = Engine(config, sender, records.append, now=loop.time, rng=np.random.default_rng(0))
        if stop_at_s is not None:
            loop.call_later(stop_at_s, engine.request_stop, 0.0)
        return await engine.run_closed_loop(units, concurrency)

    return records, virtual(main)


def _in_flight_at(records: Sequence[AttemptRecord], time_s: float) -> int:
    return sum(
        1
        for r in records
        if r.sent_s is not None and r.done_s is not None and r.sent_s <= time_s < r.done_s
    )


def test_keeps_exactly_n_in_flight_and_starts_one_the_instant_one_ends(virtual: Any) -> None:
    sender = CountingSender(lambda _request_id: 1.0)
    records, end_s = _run(itertools.islice(_units(), 10), 3, sender, virtual)
    starts = sorted(r.sent_s for r in records if r.sent_s is not None)
    assert starts == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0]
    assert sender.most_in_flight == 3
    for time_s in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5):
        assert _in_flight_at(records, time_s) == 3
    assert _in_flight_at(records, 3.5) == 1
    # The intended send is the instant the slot freed: no lag, and nothing queued unseen.
    assert all(r.scheduled_s == r.sent_s for r in records)
    assert [r.outcome for r in records] == ["ok"] * 10
    assert 4.0 <= end_s < 4.1  # the units ran out: the run ends when the last one does


def test_no_session_starts_after_the_steady_phase(virtual: Any) -> None:
    sender = CountingSender(lambda _request_id: 1.0)
    records, end_s = _run(_units(), 2, sender, virtual, duration_s=4.5)
    starts = sorted(r.sent_s for r in records if r.sent_s is not None)
    assert starts == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]
    assert all(r.outcome == "ok" for r in records)  # the last ones finished in the drain
    assert 5.0 <= end_s < 5.1


def test_think_time_holds_the_slot_until_the_session_ends(virtual: Any) -> None:
    sender = CountingSender(lambda _request_id: 1.0)
    records, _ = _run(itertools.islice(_units(turns=2, think_s=0.5), 4), 2, sender, virtual)
    first_turns = sorted((r.sent_s, r.session_id) for r in records if r.turn == 1)
    # A session: 1 s, 0.5 s thinking, 1 s; the next starts when it ends at 2.5 s.
    assert [s for s, _ in first_turns] == [0.0, 0.0, 2.5, 2.5]
    assert sender.most_in_flight == 2
    assert _in_flight_at(records, 1.2) == 0  # both slots are thinking, none free


def test_each_root_of_a_unit_takes_a_slot(virtual: Any) -> None:
    """A batch job's requests are sessions of their own: they queue for slots."""
    job = [_turn(0, 1, root=f"-r{i:04d}") for i in range(5)]
    sender = CountingSender(lambda _request_id: 1.0)
    records, _ = _run(iter([job]), 2, sender, virtual)
    assert sorted(r.sent_s for r in records) == [0.0, 0.0, 1.0, 1.0, 2.0]
    assert sender.most_in_flight == 2


def test_a_stop_starts_nothing_more_and_a_count_bound_holds(virtual: Any) -> None:
    sender = CountingSender(lambda _request_id: 1.0)
    records, _ = _run(_units(), 2, sender, virtual, stop_at_s=2.5)
    assert max(r.sent_s or 0.0 for r in records) == 2.0
    bounded = CountingSender(lambda _request_id: 0.001)
    records, end_s = _run(_units(), 4, bounded, virtual, max_sessions=50)
    assert len(records) == 50 and end_s < 1.0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    concurrency=st.integers(1, 5),
    latencies_ms=st.lists(st.integers(1, 3000), min_size=1, max_size=20),
    duration_s=st.floats(0.5, 6.0),
)
def test_in_flight_is_exactly_n_throughout_the_steady_phase(
    concurrency: int, latencies_ms: list[int], duration_s: float, virtual: Any
) -> None:
    def latency(request_id: str) -> float:
        session = int(request_id[1:7])
        return latencies_ms[session % len(latencies_ms)] / 1000.0

    sender = CountingSender(latency)
    records, _ = _run(_units(), concurrency, sender, virtual, duration_s=duration_s, drain_s=4.0)
    assert sender.most_in_flight == concurrency
    events = sorted({t for r in records for t in (r.sent_s, r.done_s) if t is not None})
    for time_s in events:
        if time_s < duration_s:
            assert _in_flight_at(records, time_s) == concurrency, time_s
    assert all(r.sent_s is not None and r.sent_s < duration_s for r in records)
