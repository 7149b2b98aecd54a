"""The constant-mode timing wheel on a fake clock: every token goes out once, in order, within a
slot of its deadline; tokens of one stream already due leave in one write; a slot begun late
charges each token written its own lateness (pro rata when a sink takes fewer), and a run on
time charges none."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_models.http.wire import WireSink
from mock_models.sim.ticker import Ticker

START_S = 1000.0
SLOT_S = 0.001
_EXACT = 1e-9


class _StampedSink(WireSink):
    """A counting sink (no transport) that notes when each ``emit`` call came, and how many."""

    __slots__ = ("calls", "clock")

    def __init__(self, clock: Any, tokens: int, done: asyncio.Future[None], limit: int = 0) -> None:
        super().__init__(None, tuple(range(tokens)), limit or tokens, done)
        self.clock = clock
        self.calls: list[tuple[float, int]] = []

    def emit(self, count: int) -> bool:
        self.calls.append((self.clock.now_s(), count))
        return super().emit(count)


def _deadlines(first_s: float, gaps_s: Sequence[float]) -> list[float]:
    due = [first_s]
    for gap in gaps_s:
        due.append(due[-1] + gap)
    return due


def _check_on_time(sink: _StampedSink, due: list[float]) -> None:
    """Every token once, in order, none more than a slot before or after its deadline."""
    assert sum(count for _, count in sink.calls) == len(due) == sink.tokens
    sent = 0
    for stamp, count in sink.calls:
        # The first token of a write was due at most a slot before it; the last at most a
        # slot after it.
        assert due[sent] - _EXACT <= stamp + SLOT_S
        assert stamp <= due[sent + count - 1] + SLOT_S + _EXACT
        sent += count
    assert [stamp for stamp, _ in sink.calls] == sorted(stamp for stamp, _ in sink.calls)
    assert sink.lag_sum_s == 0.0


def test_each_token_is_written_once_within_a_slot_of_its_deadline(
    virtual: Any, loop_clock: Any
) -> None:
    async def scenario() -> tuple[list[_StampedSink], list[list[float]]]:
        clock = loop_clock()
        ticker = Ticker(clock)
        sinks, deadlines = [], []
        start = clock.now_s() + 0.01
        for index in range(40):
            gaps = tuple(0.002 + 0.0005 * ((index + i) % 5) for i in range(7))
            sink = _StampedSink(clock, 8, clock.loop.create_future())
            first = start + 0.0007 * index
            ticker.pace(sink, first, gaps)
            sinks.append(sink)
            deadlines.append(_deadlines(first, gaps))
        await asyncio.gather(*(sink.done for sink in sinks))
        ticker.close()
        return sinks, deadlines

    sinks, deadlines = virtual(scenario)
    for sink, due in zip(sinks, deadlines, strict=True):
        _check_on_time(sink, due)


def test_tokens_already_due_leave_in_one_write(virtual: Any, loop_clock: Any) -> None:
    async def scenario() -> _StampedSink:
        clock = loop_clock()
        sink = _StampedSink(clock, 50, clock.loop.create_future())
        ticker = Ticker(clock)
        ticker.pace(sink, clock.now_s(), (0.0,) * 49)
        await sink.done
        ticker.close()
        return sink

    sink = virtual(scenario)
    assert [count for _, count in sink.calls] == [50]
    assert sink.lag_sum_s == 0.0


def test_a_stopped_sink_leaves_the_wheel_and_close_cancels_the_rest(
    virtual: Any, loop_clock: Any
) -> None:
    async def scenario() -> tuple[_StampedSink, _StampedSink]:
        clock = loop_clock()
        ticker = Ticker(clock)
        stopped = _StampedSink(clock, 100, clock.loop.create_future())
        pending = _StampedSink(clock, 100, clock.loop.create_future())
        ticker.pace(stopped, clock.now_s(), (0.001,) * 99)
        ticker.pace(pending, clock.now_s() + 10.0, (0.001,) * 99)
        await asyncio.sleep(0.0105)
        stopped.stop()
        written = stopped.tokens
        await asyncio.sleep(0.02)
        assert stopped.tokens == written
        ticker.close()
        await asyncio.sleep(20.0)
        return stopped, pending

    stopped, pending = virtual(scenario)
    # Due at 0 to 11 ms: the wheel's last firing, at 10 ms, sends the slot after it too.
    assert stopped.tokens == 12
    assert pending.calls == []


def test_a_slot_begun_late_charges_its_lag_to_the_sinks_in_it(
    virtual: Any, loop_clock: Any
) -> None:
    # The loop is held from 15 to 75 ms while one stream's second token is due (at 25 ms):
    # that token goes out 50 ms late; a stream whose tokens all fall outside the hold notes
    # nothing.
    async def scenario() -> tuple[_StampedSink, _StampedSink]:
        clock = loop_clock()
        ticker = Ticker(clock)
        blocked = _StampedSink(clock, 3, clock.loop.create_future())
        clear = _StampedSink(clock, 3, clock.loop.create_future())
        ticker.pace(blocked, START_S + 0.005, (0.02, 0.2))
        ticker.pace(clear, START_S + 0.3, (0.005, 0.005))
        clock.call_at(START_S + 0.015, lambda: clock.advance(0.06))
        await asyncio.gather(blocked.done, clear.done)
        ticker.close()
        return blocked, clear

    blocked, clear = virtual(scenario)
    assert blocked.lag_sum_s == pytest.approx(0.05, abs=_EXACT)
    assert blocked.lag_s == blocked.lag_sum_s / 3
    assert blocked.calls[1] == (pytest.approx(START_S + 0.075, abs=_EXACT), 1)
    assert clear.lag_sum_s == 0.0


@pytest.mark.parametrize(("limit", "charged_s"), [(0, 0.12), (4, 0.12 * 2 / 8)])
def test_a_catch_up_write_charges_each_token_its_own_lateness(
    virtual: Any, loop_clock: Any, limit: int, charged_s: float
) -> None:
    # Ten tokens due every ms from 5 ms. The firing at 5 ms sends those due at 5 and 6 ms (a
    # slot ahead); the loop is then held from 5.5 to 25.5 ms, and the eight due from 7 to
    # 14 ms go out in one write at 25.5 ms, 18.5 to 11.5 ms late (120 ms in all). A sink that
    # stops after four tokens wrote two of those eight: it is charged 2/8.
    async def scenario() -> _StampedSink:
        clock = loop_clock()
        ticker = Ticker(clock)
        sink = _StampedSink(clock, 10, clock.loop.create_future(), limit)
        ticker.pace(sink, START_S + 0.005, (0.001,) * 9)
        clock.call_at(START_S + 0.0055, lambda: clock.advance(0.02))
        await sink.done
        ticker.close()
        return sink

    sink = virtual(scenario)
    assert [count for _, count in sink.calls] == [2, 8]
    assert sink.tokens == (limit or 10)
    assert sink.lag_sum_s == pytest.approx(charged_s, abs=_EXACT)


_STREAMS = st.lists(
    st.tuples(
        st.floats(0.0, 0.05),  # first token, after the start
        st.lists(st.floats(0.0, 0.01), max_size=12),  # gaps
    ),
    min_size=1,
    max_size=8,
)


def _run_streams(
    loop_clock: Any, streams: list[tuple[float, list[float]]], holds: list[tuple[float, float]]
) -> Any:
    async def scenario() -> list[_StampedSink]:
        clock = loop_clock()
        ticker = Ticker(clock)
        sinks = []
        for first_s, gaps in streams:
            sink = _StampedSink(clock, len(gaps) + 1, clock.loop.create_future())
            ticker.pace(sink, START_S + first_s, gaps)
            sinks.append(sink)
        for at_s, held_s in holds:
            clock.call_at(START_S + at_s, lambda h=held_s: clock.advance(h))
        await asyncio.gather(*(sink.done for sink in sinks))
        ticker.close()
        return sinks

    return scenario


@settings(max_examples=80, deadline=None)
@given(_STREAMS)
def test_a_run_on_time_writes_every_token_within_a_slot_and_charges_nothing(
    virtual: Any, loop_clock: Any, streams: list[tuple[float, list[float]]]
) -> None:
    sinks = virtual(_run_streams(loop_clock, streams, []))
    for sink, (first_s, gaps) in zip(sinks, streams, strict=True):
        _check_on_time(sink, _deadlines(START_S + first_s, gaps))


@settings(max_examples=80, deadline=None)
@given(_STREAMS, st.lists(st.tuples(st.floats(0.0, 0.1), st.floats(0.0, 0.05)), max_size=3))
def test_lag_is_never_negative_nor_more_than_the_loop_was_held(
    virtual: Any,
    loop_clock: Any,
    streams: list[tuple[float, list[float]]],
    holds: list[tuple[float, float]],
) -> None:
    sinks = virtual(_run_streams(loop_clock, streams, holds))
    held_s = sum(held_s for _, held_s in holds)
    for sink, (_, gaps) in zip(sinks, streams, strict=True):
        assert sink.tokens == len(gaps) + 1
        assert 0.0 <= sink.lag_sum_s <= sink.tokens * held_s + _EXACT
