"""One timer for the token deadlines of every constant-latency stream of a server: sinks with
their absolute deadlines in; each sink's ``emit()`` called when its deadline comes.

A per-stream sleep per token costs a task wake-up each; at thousands of open streams that
alone saturates a core. Here deadlines sit in a timing wheel of one-millisecond slots (a slot
list per millisecond, a heap of the occupied slot numbers), one timer is armed for the
earliest slot, and every token of every slot due by then goes out in the same callback. A
token costs a list append and its write; no heap operation, tuple or task per token.
Deadlines are absolute times on the clock the ticker is given (``mock_models.sim.clock``), so
lateness does not accumulate over a stream.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Protocol

from mock_models.sim.clock import LAG_NOTED_S, Clock, Timer


class PacedSink(Protocol):
    """What the ticker writes a stream's tokens to (a ``WireSink`` on the server)."""

    #: Tokens written so far.
    tokens: int
    #: Over its tokens, the sum of how late each went out against its deadline.
    lag_sum_s: float

    def emit(self, count: int) -> bool:
        """Write the next ``count`` tokens; False when the stream wants no more."""
        ...


#: Slots per second. A millisecond: uvloop's timers have that resolution, and a finer slot
#: makes the loop spin on timers that fire a fraction of a millisecond early. Slot ``k`` holds
#: the deadlines in ``(k - 1, k]`` ms; its timer is armed for ``k`` ms, and a callback at
#: time ``t`` ms sends every slot up to ``t + 1``: a token goes out at most a slot early, and
#: a timer that fires up to a slot early still finds its tokens due instead of re-arming.
_SLOTS_PER_S = 1000.0


class _Paced:
    """One stream on the wheel: its next deadline and the gaps still to come."""

    __slots__ = ("deadline_s", "gaps_s", "index", "sink")

    def __init__(self, sink: PacedSink, deadline_s: float, gaps_s: Sequence[float]) -> None:
        self.sink = sink
        self.deadline_s = deadline_s
        self.gaps_s = gaps_s
        #: The gap after the token due at ``deadline_s``.
        self.index = 0


class Ticker:
    """The timing wheel of the constant-latency streams on one event loop."""

    __slots__ = ("_armed_slot", "_clock", "_handle", "_occupied", "_slots")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._slots: dict[int, list[_Paced]] = {}
        #: Heap of the keys of ``_slots``.
        self._occupied: list[int] = []
        self._handle: Timer | None = None
        self._armed_slot = 0

    def pace(self, sink: PacedSink, first_s: float, gaps_s: Sequence[float]) -> None:
        """Emit ``sink``'s first token at ``first_s`` (on the ticker's clock), then one after
        each gap."""
        self._put(_Paced(sink, first_s, gaps_s))
        self._arm()

    def _put(self, paced: _Paced) -> None:
        slot = math.ceil(paced.deadline_s * _SLOTS_PER_S)
        bucket = self._slots.get(slot)
        if bucket is None:
            self._slots[slot] = [paced]
            heapq.heappush(self._occupied, slot)
        else:
            bucket.append(paced)

    def _arm(self) -> None:
        if not self._occupied:
            return
        earliest = self._occupied[0]
        if self._handle is not None:
            if earliest >= self._armed_slot:
                return
            self._handle.cancel()
        self._armed_slot = earliest
        self._handle = self._clock.call_at(earliest / _SLOTS_PER_S, self._fire)

    def _fire(self) -> None:
        # Every token of every constant-latency stream passes here: the per-stream step is
        # inlined (no call but the sink's, one slot computation per token in the common case).
        self._handle = None
        now_s = self._clock.now_s
        now_slot = int(now_s() * _SLOTS_PER_S) + 1
        occupied, slots = self._occupied, self._slots
        ceil, heappop, heappush = math.ceil, heapq.heappop, heapq.heappush
        while occupied and occupied[0] <= now_slot:
            due = heappop(occupied)
            # The slot's writes begin now, its tokens were due by its end: when that is late,
            # every token written is charged its own lateness (a catch-up write holds tokens
            # due at different times). One clock read a slot; the sums only when late.
            begun_s = now_s()
            late = begun_s - due / _SLOTS_PER_S > LAG_NOTED_S
            for paced in slots.pop(due):
                # Tokens of one stream already due go out in one write, as a server's
                # buffered writer would send them.
                gaps, index, deadline = paced.gaps_s, paced.index, paced.deadline_s
                remaining = len(gaps)
                count = 1
                due_sum_s = deadline
                slot = 0
                following = 0.0
                while index < remaining:
                    following = deadline + gaps[index]
                    slot = ceil(following * _SLOTS_PER_S)
                    if slot > now_slot:
                        break
                    deadline = following
                    index += 1
                    count += 1
                    due_sum_s += deadline
                sink = paced.sink
                if late:
                    before = sink.tokens
                    more = sink.emit(count)
                    # A cut or stopped sink writes fewer: charge those, pro rata.
                    written = sink.tokens - before
                    sink.lag_sum_s += (begun_s * count - due_sum_s) * written / count
                else:
                    more = sink.emit(count)
                if more and index < remaining:
                    paced.deadline_s = following
                    paced.index = index + 1
                    bucket = slots.get(slot)
                    if bucket is None:
                        slots[slot] = [paced]
                        heappush(occupied, slot)
                    else:
                        bucket.append(paced)
        self._arm()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._slots.clear()
        self._occupied.clear()
