"""One timer for the token deadlines of every constant-latency stream of a server: sinks with
their absolute deadlines in; each sink's ``token()`` called when its deadline comes.

A per-stream sleep per token costs a task wake-up each; at thousands of open streams that
alone saturates a core. Here one timer handle is armed for the earliest deadline and every
token due by then (within ``_COALESCE_S``) goes out in the same callback. Deadlines are
absolute ``time.monotonic()`` values, so lateness does not accumulate over a stream.

Not the loop's clock: uvloop's is libuv's millisecond time cached at the start of an
iteration, and its timers count from that stale value, so under load they fire several ms
late. Armed from the real clock they fire at most a millisecond early, and re-arm.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

from mock_models.wire import WireSink

#: Tokens due this close after the one that woke the timer go out with it. A millisecond:
#: uvloop's timers have that resolution, and a finer horizon makes the loop spin on timers
#: that fire a fraction of a millisecond early.
_COALESCE_S = 0.001


class Ticker:
    """The deadline heap of the constant-latency streams on one event loop."""

    __slots__ = ("_armed_at", "_handle", "_heap", "_order")

    def __init__(self) -> None:
        # (deadline, tie-breaker, sink, gaps, index of the next gap)
        self._heap: list[tuple[float, int, WireSink, tuple[float, ...], int]] = []
        self._order = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")

    def pace(self, sink: WireSink, first_s: float, gaps_s: tuple[float, ...]) -> None:
        """Emit ``sink``'s first token at ``first_s`` (``time.monotonic()``), then one after
        each gap."""
        heapq.heappush(self._heap, (first_s, next(self._order), sink, gaps_s, 0))
        self._arm()

    def _arm(self) -> None:
        if not self._heap:
            return
        earliest = self._heap[0][0]
        if earliest >= self._armed_at and self._handle is not None:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = earliest
        delay = earliest - time.monotonic()
        self._handle = asyncio.get_running_loop().call_later(max(0.0, delay), self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = float("inf")
        heap = self._heap
        horizon = time.monotonic() + _COALESCE_S
        while heap and heap[0][0] <= horizon:
            deadline, _, sink, gaps, index = heapq.heappop(heap)
            # Tokens of one stream already due go out in one write, as a server's buffered
            # writer would send them.
            count = 1
            while index < len(gaps) and deadline + gaps[index] <= horizon:
                deadline += gaps[index]
                index += 1
                count += 1
            sink.token(count)
            if sink.wants_more and index < len(gaps):
                heapq.heappush(heap, (deadline + gaps[index], next(self._order), sink, gaps,
                                      index + 1))
        self._arm()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()
