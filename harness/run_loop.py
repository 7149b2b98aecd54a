"""Around the engine while it sends: an engine and what to send in, its finish time out.

Ctrl-C and SIGTERM become a graceful stop, the progress display runs, and abort-on-fail checks
read the live counters once a second; also the event loop and the frozen heap a run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, runtime_checkable

from harness.contract.records import AttemptRecord
from harness.engine import Engine
from harness.engine_config import LiveStats
from harness.progress import show_progress

STOP_GRACE_S = 5.0
#: How often an abort check reads the live counters, and how long in-flight attempts may
#: finish once it fires.
ABORT_EVERY_S = 1.0
ABORT_GRACE_S = 1.0

#: Reads the live counters and the run clock; returns why to stop (a JSON object) or None.
AbortCheck = Callable[[LiveStats, float], "dict[str, Any] | None"]


@runtime_checkable
class RecordObserver(Protocol):
    """An abort check that also reads each attempt record as it is written (live latencies)."""

    def observe(self, record: AttemptRecord) -> None: ...


def freeze_heap() -> bool:
    """Move every object alive now (imports, the scenario, the mock's tables, a closed loop's
    preview) out of the collector's reach for the run: a full collection walks the whole
    heap, and over a large heap that stalls the event loop for hundreds of milliseconds
    (600 ms over a 600,000-request plan held whole), which would show as schedule lag. The
    open-loop plan is streamed, so only the sessions in flight are walked. False when
    garbage collection is off anyway."""
    if not gc.isenabled():
        return False
    gc.collect()
    gc.freeze()
    return True


def event_loop_runner() -> Callable[[Any], Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run
    return lambda coro: asyncio.Runner(loop_factory=uvloop.new_event_loop).run(coro)


async def _watch_abort(
    engine: Engine, check: AbortCheck, clock_s: Callable[[], float], found: list[dict[str, Any]]
) -> None:
    while not engine.stop_requested.is_set():
        await asyncio.sleep(ABORT_EVERY_S)
        reason = check(engine.stats, clock_s())
        if reason is not None:
            found.append(reason)
            engine.request_stop(ABORT_GRACE_S)
            return


async def drive(
    engine: Engine,
    send: Callable[[Engine], Coroutine[Any, Any, float]],
    phase: tuple[float | None, int | None],
    progress: bool,
    abort_check: AbortCheck | None = None,
    aborted: list[dict[str, Any]] | None = None,
) -> float:
    """``send(engine)`` to its end; ``phase`` (steady seconds and requests planned, None when
    not known ahead) is what the progress display counts against."""
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        engine.request_stop(STOP_GRACE_S if interrupts == 1 else 0.0)

    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        loop.add_signal_handler(signal.SIGTERM, on_interrupt)
    start_s = time.perf_counter()
    display = (
        asyncio.create_task(
            show_progress(
                engine.stats,
                lambda: time.perf_counter() - start_s,
                *phase,
            )
        )
        if progress
        else None
    )
    watcher = (
        asyncio.create_task(
            _watch_abort(
                engine,
                abort_check,
                lambda: time.perf_counter() - start_s,
                aborted if aborted is not None else [],
            )
        )
        if abort_check is not None
        else None
    )
    try:
        return await send(engine)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if display is not None:
            display.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await display
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
