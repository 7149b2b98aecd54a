"""The closed loop's scheduler: sessions drawn unit by unit in, N of them kept in flight out (a
new one starts at the instant one ends), until the steady phase ends, a stop comes, the units
run out or a session count is reached.

A session's first turn is intended at the instant its slot freed, so its schedule lag is only
the engine's own delay. Whatever queueing the target does holds the next session back instead
of showing in any latency (coordinated omission), which is why the open loop is the default.
Reads the run clock it is given; sleeps only on the loop, in slices, so a stop is seen soon.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from harness.contract.records import PlannedRequest
from harness.engine_sessions import AsyncSession, SessionRunner

_MAX_WAIT_S = 0.25  # wait for a free slot in slices so the end of the phase is seen soon
_RESOLUTION_S = 1e-6  # below clock resolution after float rounding: the phase has ended


async def keep_in_flight(
    sessions: SessionRunner,
    units: Iterator[Sequence[PlannedRequest]],
    concurrency: int,
    *,
    clock: Callable[[], float],
    stopped: asyncio.Event,
    duration_s: float,
    max_sessions: int,
) -> None:
    """Start root sessions of ``units`` whenever fewer than ``concurrency`` of those started
    here run (sub-agent sessions ride in their parent's slot); a unit with several roots (a
    batch job) queues them, and the next unit is drawn only when none waits."""
    freed = asyncio.Event()
    running: set[asyncio.Task[None]] = set()
    waiting: deque[AsyncSession] = deque()
    started = 0

    def release(task: asyncio.Task[None]) -> None:
        running.discard(task)
        freed.set()

    while True:
        while len(running) < concurrency:
            now_s = clock()
            if stopped.is_set() or now_s >= duration_s - _RESOLUTION_S or started >= max_sessions:
                return
            if not waiting:
                unit = next(units, None)
                if unit is None:
                    return
                waiting.extend(sessions.flow.add(unit))
                continue
            task = sessions.flow.start(waiting.popleft(), start_s=now_s)
            started += 1
            running.add(task)
            task.add_done_callback(release)
        freed.clear()
        remaining_s = duration_s - clock()
        if remaining_s <= _RESOLUTION_S:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(freed.wait(), min(remaining_s, _MAX_WAIT_S))
