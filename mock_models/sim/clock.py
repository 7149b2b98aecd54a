"""The clock that paces the mock's tokens: seconds now, a sleep until a deadline and a timer
at a deadline, all on one time line; ``MonotonicClock`` is the real one, tests pass a fake.

The real clock is ``time.monotonic()``, not the loop's: uvloop's is libuv's millisecond time
cached at the start of an iteration, so it leaves out whatever ran before in that iteration,
and its timers count from that stale value and fire several ms late under load. Armed from
the real clock they fire at most a millisecond early, and each wake-up checks again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """An armed timer (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds and the waits measured on it."""

    def now_s(self) -> float:
        """The current time, in seconds on this clock's own line."""
        ...

    async def sleep_until(self, deadline_s: float, early_s: float = 0.0) -> None:
        """Return at ``deadline_s``, or at most ``early_s`` before it (never sooner)."""
        ...

    def call_at(self, deadline_s: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback`` on the running loop once ``deadline_s`` has come."""
        ...


async def sleep_until(deadline_s: float, early_s: float = 0.0) -> None:
    """Sleep until ``deadline_s`` (``time.monotonic()``), or until at most ``early_s`` before
    it. The loop's timers can fire early: each wake-up sleeps again for what is left."""
    delay_s = deadline_s - time.monotonic()
    while delay_s > early_s:
        await asyncio.sleep(delay_s)
        delay_s = deadline_s - time.monotonic()


class MonotonicClock:
    """The real clock: ``time.monotonic()``, with the running loop's timers armed against it."""

    __slots__ = ()

    def now_s(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline_s: float, early_s: float = 0.0) -> None:
        await sleep_until(deadline_s, early_s)

    def call_at(self, deadline_s: float, callback: Callable[[], object]) -> Timer:
        delay_s = max(0.0, deadline_s - time.monotonic())
        return asyncio.get_running_loop().call_later(delay_s, callback)


#: Lateness the mock notes (``Progress.lag_s``, ``WireSink.lag_sum_s``): a batch of token writes
#: (a ticker slot, an engine step) or an answer begun more than this after it was due. The
#: loop's timers are millisecond-grained and the ticker's slots a millisecond wide, so up to
#: two milliseconds is their design, not a delay.
LAG_NOTED_S = 0.002
