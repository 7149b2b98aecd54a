"""The constant-mode timing wheel: every token goes out once, in order, never more than a slot
early, and tokens of one stream already due leave in one write."""

from __future__ import annotations

import asyncio
import time

from mock_models.ticker import Ticker
from mock_models.wire import WireSink


class _StampedSink(WireSink):
    """A counting sink (no transport) that notes when each ``emit`` call came, and how many."""

    __slots__ = ("calls",)

    def __init__(self, tokens: int, done: asyncio.Future[None]) -> None:
        super().__init__(None, tuple(range(tokens)), tokens, done)
        self.calls: list[tuple[float, int]] = []

    def emit(self, count: int) -> bool:
        self.calls.append((time.monotonic(), count))
        return super().emit(count)


def test_each_token_is_written_once_and_not_before_its_slot() -> None:
    async def scenario() -> tuple[list[_StampedSink], list[list[float]]]:
        loop = asyncio.get_running_loop()
        ticker = Ticker()
        sinks, deadlines = [], []
        start = time.monotonic() + 0.01
        for index in range(40):
            gaps = tuple(0.002 + 0.0005 * ((index + i) % 5) for i in range(7))
            sink = _StampedSink(8, loop.create_future())
            first = start + 0.0007 * index
            ticker.pace(sink, first, gaps)
            due = [first]
            for gap in gaps:
                due.append(due[-1] + gap)
            sinks.append(sink)
            deadlines.append(due)
        await asyncio.wait_for(asyncio.gather(*(sink.done for sink in sinks)), 5)
        ticker.close()
        return sinks, deadlines

    sinks, deadlines = asyncio.run(scenario())
    for sink, due in zip(sinks, deadlines, strict=True):
        assert sink.tokens == 8
        assert sum(count for _, count in sink.calls) == 8
        sent = 0
        for stamp, count in sink.calls:
            # The last token of a write was due by the end of the slot it went out in.
            assert stamp >= due[sent + count - 1] - 0.001
            sent += count
        assert [stamp for stamp, _ in sink.calls] == sorted(stamp for stamp, _ in sink.calls)


def test_tokens_already_due_leave_in_one_write() -> None:
    async def scenario() -> _StampedSink:
        sink = _StampedSink(50, asyncio.get_running_loop().create_future())
        ticker = Ticker()
        ticker.pace(sink, time.monotonic(), (0.0,) * 49)
        await asyncio.wait_for(sink.done, 5)
        ticker.close()
        return sink

    sink = asyncio.run(scenario())
    assert [count for _, count in sink.calls] == [50]


def test_a_stopped_sink_leaves_the_wheel_and_close_cancels_the_rest() -> None:
    async def scenario() -> tuple[_StampedSink, _StampedSink]:
        loop = asyncio.get_running_loop()
        ticker = Ticker()
        stopped = _StampedSink(100, loop.create_future())
        pending = _StampedSink(100, loop.create_future())
        ticker.pace(stopped, time.monotonic(), (0.001,) * 99)
        ticker.pace(pending, time.monotonic() + 10.0, (0.001,) * 99)
        await asyncio.sleep(0.01)
        stopped.stop()
        written = stopped.tokens
        await asyncio.sleep(0.02)
        assert stopped.tokens == written
        ticker.close()
        await asyncio.sleep(0.01)
        return stopped, pending

    stopped, pending = asyncio.run(scenario())
    assert 0 < stopped.tokens < 100
    assert pending.calls == []


def test_a_slot_begun_late_notes_its_lag_on_the_sinks_in_it() -> None:
    # The loop is blocked for 60 ms while one stream's second token is due: that token (and
    # the stream) waited for the mock itself; a stream whose tokens all fall outside the
    # block notes nothing.
    async def scenario() -> tuple[_StampedSink, _StampedSink]:
        loop = asyncio.get_running_loop()
        ticker = Ticker()
        blocked = _StampedSink(3, loop.create_future())
        clear = _StampedSink(3, loop.create_future())
        start = time.monotonic()
        ticker.pace(blocked, start + 0.005, (0.02, 0.2))
        ticker.pace(clear, start + 0.3, (0.005, 0.005))
        loop.call_later(0.015, time.sleep, 0.06)  # busy from 15 to 75 ms
        await asyncio.wait_for(asyncio.gather(blocked.done, clear.done), 5)
        ticker.close()
        return blocked, clear

    blocked, clear = asyncio.run(scenario())
    # Its second token went out ~60 ms late: the sum, and the mean over its three tokens.
    assert 0.04 <= blocked.lag_sum_s <= 0.2
    assert blocked.lag_s == blocked.lag_sum_s / 3
    assert clear.lag_sum_s < 0.01
