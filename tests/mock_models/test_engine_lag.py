"""The engine's lag on a fake clock, exactly: an engine whose core cannot keep up (token writes
longer than its step, a stall, a wait before an idle engine wakes) moves its schedule, and every
token after a move carries it as lag; an engine that keeps up carries none, and a sequence
submitted after a stall is not charged for it. Lag is never negative, and no larger than the
time the loop was held."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_models.settings import EngineSettings
from mock_models.sim.engine import DeploymentEngine

START_S = 1000.0
STEP_S = 0.004
_EXACT = 1e-9


class _BusySink:
    """A sink whose every token holds the loop for ``busy_s`` (a slow write); it notes when
    each token came."""

    def __init__(self, clock: Any, busy_s: float, done: asyncio.Future[None]) -> None:
        self.clock = clock
        self.busy_s = busy_s
        self.done = done
        self.token_s: list[float] = []
        self.lag_sum_s = 0.0
        self.lag_base_s = 0.0

    @property
    def tokens(self) -> int:
        return len(self.token_s)

    def token(self) -> None:
        self.token_s.append(self.clock.now_s())
        if self.busy_s:
            self.clock.advance(self.busy_s)

    def finish(self) -> None:
        self.done.set_result(None)


def _engine(clock: Any, step_ms: float = STEP_S * 1000, jitter: float = 0.0) -> DeploymentEngine:
    settings = EngineSettings(
        max_num_seqs=8,
        max_waiting_seqs=8,
        step_base_ms=step_ms,
        prefill_ms_per_token=0.0,
        decode_ms_per_seq=0.0,
    )
    return DeploymentEngine(settings, jitter, 1, clock=clock)


def _four_busy_sinks(virtual: Any, loop_clock: Any, busy_s: float) -> list[_BusySink]:
    async def scenario() -> list[_BusySink]:
        clock = loop_clock()
        engine = _engine(clock)
        sinks = [_BusySink(clock, busy_s, clock.loop.create_future()) for _ in range(4)]
        for sink in sinks:
            engine.submit(sink, 1, 40)
        await asyncio.gather(*(sink.done for sink in sinks))
        await engine.close()
        return sinks

    result: list[_BusySink] = virtual(scenario)
    return result


def test_steps_longer_than_the_model_says_accumulate_lag(virtual: Any, loop_clock: Any) -> None:
    # Four sinks at 2 ms a token: 8 ms of writing a 4 ms step. Each step starts where the last
    # one's writes ended, 4 ms behind, and the schedule moves by that: token k is
    # 4 ms * (k - 1) late, 3.12 s over the 40 tokens (78 ms a token).
    for index, sink in enumerate(_four_busy_sinks(virtual, loop_clock, 0.002)):
        assert sink.tokens == 40
        expected_s = [START_S + STEP_S + 0.008 * k + 0.002 * index for k in range(40)]
        assert sink.token_s == pytest.approx(expected_s, abs=_EXACT)
        assert sink.lag_sum_s == pytest.approx(STEP_S * sum(range(40)), abs=_EXACT)
        assert sink.lag_sum_s / sink.tokens == pytest.approx(0.078, abs=_EXACT)


def test_an_engine_that_keeps_up_notes_no_lag(virtual: Any, loop_clock: Any) -> None:
    # 0.4 ms of writing a 4 ms step: every step ends on the model's schedule.
    for index, sink in enumerate(_four_busy_sinks(virtual, loop_clock, 0.0001)):
        expected_s = [START_S + STEP_S * k + 0.0001 * index for k in range(1, 41)]
        assert sink.token_s == pytest.approx(expected_s, abs=_EXACT)
        assert sink.lag_sum_s == 0.0


def test_a_stall_is_charged_to_the_answers_it_delayed_only(virtual: Any, loop_clock: Any) -> None:
    # A runs through a 50 ms stall (21 to 71 ms, while its 6th token is due at 24 ms); B is
    # submitted at the end of the stall, before the engine moved its schedule; C at 100 ms.
    async def scenario() -> dict[str, _BusySink]:
        clock = loop_clock()
        engine = _engine(clock)
        sinks = {name: _BusySink(clock, 0.0, clock.loop.create_future()) for name in "ABC"}

        def stall() -> None:
            clock.advance(0.05)
            engine.submit(sinks["B"], 1, 30)

        engine.submit(sinks["A"], 1, 30)
        clock.call_at(START_S + 0.021, stall)
        await clock.sleep_until(START_S + 0.1)
        engine.submit(sinks["C"], 1, 30)
        await asyncio.gather(*(s.done for s in sinks.values()))
        await engine.close()
        return sinks

    sinks = virtual(scenario)
    a, b, c = sinks["A"], sinks["B"], sinks["C"]
    # A's 6th token went out 47 ms late; the schedule then moved 43 ms, which each of its 24
    # later tokens carries.
    assert a.lag_sum_s == pytest.approx(0.047 + 24 * 0.043, abs=_EXACT)
    assert a.token_s[5] == pytest.approx(START_S + 0.071, abs=_EXACT)
    assert (b.lag_sum_s, c.lag_sum_s) == (0.0, 0.0)
    assert b.token_s[0] == a.token_s[6]  # B shares A's steps from the move on


def test_the_wait_before_an_idle_engine_wakes_is_the_mocks(virtual: Any, loop_clock: Any) -> None:
    # The loop is held for 50 ms right after the submission that wakes the engine: the model's
    # schedule started at the submission, so the first step ends 46 ms late and the schedule
    # moves by that for every token.
    async def scenario() -> _BusySink:
        clock = loop_clock()
        engine = _engine(clock)
        sink = _BusySink(clock, 0.0, clock.loop.create_future())
        engine.submit(sink, 1, 30)
        clock.advance(0.05)
        await sink.done
        await engine.close()
        return sink

    sink = virtual(scenario)
    assert sink.lag_sum_s == pytest.approx(30 * 0.046, abs=_EXACT)
    assert sink.token_s[0] == pytest.approx(START_S + 0.05, abs=_EXACT)


_SUBMISSIONS = st.lists(
    st.tuples(
        st.floats(0.0, 0.2),  # when, after the start
        st.integers(1, 300),  # uncached prompt tokens
        st.integers(1, 40),  # output tokens
        st.floats(0.0, 0.005),  # how long each of its token writes holds the loop
    ),
    min_size=1,
    max_size=6,
)


def _run_submissions(
    loop_clock: Any,
    submissions: list[tuple[float, int, int, float]],
    step_ms: float,
    jitter: float,
    stalls: list[tuple[float, float]],
) -> Any:
    async def scenario() -> list[_BusySink]:
        clock = loop_clock()
        settings = EngineSettings(
            max_num_seqs=3,
            max_waiting_seqs=10,
            step_base_ms=step_ms,
            prefill_ms_per_token=0.01,
            decode_ms_per_seq=0.1,
        )
        engine = DeploymentEngine(settings, jitter, 7, clock=clock)
        sinks = []
        for at_s, prompt, output, busy_s in submissions:
            sink = _BusySink(clock, busy_s, clock.loop.create_future())
            sinks.append(sink)
            clock.call_at(START_S + at_s, lambda s=sink, p=prompt, o=output: engine.submit(s, p, o))
        for at_s, held_s in stalls:
            clock.call_at(START_S + at_s, lambda h=held_s: clock.advance(h))
        await asyncio.gather(*(sink.done for sink in sinks))
        await engine.close()
        return sinks

    return scenario


@settings(max_examples=60, deadline=None)
@given(_SUBMISSIONS, st.floats(0.3, 20.0), st.floats(0.0, 0.5))
def test_a_run_on_time_has_no_lag(
    virtual: Any,
    loop_clock: Any,
    submissions: list[tuple[float, int, int, float]],
    step_ms: float,
    jitter: float,
) -> None:
    on_time = [(at_s, prompt, output, 0.0) for at_s, prompt, output, _ in submissions]
    sinks = virtual(_run_submissions(loop_clock, on_time, step_ms, jitter, []))
    for sink, (_, _, output, _) in zip(sinks, on_time, strict=True):
        assert sink.tokens == output
        assert sink.lag_sum_s == 0.0


@settings(max_examples=60, deadline=None)
@given(
    _SUBMISSIONS,
    st.floats(0.3, 20.0),
    st.floats(0.0, 0.5),
    st.lists(st.tuples(st.floats(0.0, 0.3), st.floats(0.0, 0.1)), max_size=3),
)
def test_lag_is_never_negative_nor_more_than_the_loop_was_held(
    virtual: Any,
    loop_clock: Any,
    submissions: list[tuple[float, int, int, float]],
    step_ms: float,
    jitter: float,
    stalls: list[tuple[float, float]],
) -> None:
    sinks = virtual(_run_submissions(loop_clock, submissions, step_ms, jitter, stalls))
    held_s = sum(h for _, h in stalls) + sum(
        busy_s * output for _, _, output, busy_s in submissions
    )
    for sink in sinks:
        assert 0.0 <= sink.lag_sum_s <= sink.tokens * held_s + _EXACT
