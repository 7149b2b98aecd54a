"""Sessions for the asyncio engine: each session of the flow (``harness.session_flow``) runs as
an asyncio task that does what the flow says (sleep until a time on the engine's clock, send
an attempt, wait for other sessions' tasks) and feeds back what happened. What is sent, when,
retried, spawned, skipped and recorded is the flow's; here are only the waits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from harness.client.exchange import AttemptResult
from harness.contract.records import AttemptRecord
from harness.engine_config import EngineConfig, LiveStats
from harness.session_flow.flow import SessionFlow
from harness.session_flow.steps import Send, Session, WaitFor

#: An asyncio session of the flow (its handle is its task).
AsyncSession = Session[asyncio.Task[None]]


@dataclass(frozen=True, slots=True)
class EngineIO:
    """What sessions use of the engine: send an attempt, write a record, read the run clock,
    and sleep until a run-clock time (False when a stop came first)."""

    send: Callable[[Send], Awaitable[AttemptResult]]
    sink: Callable[[AttemptRecord], None]
    clock: Callable[[], float]
    sleep_until: Callable[[float], Awaitable[bool]]


class SessionRunner:
    """Runs the flow's sessions as tasks; the scheduler starts the roots ``add`` returns."""

    def __init__(
        self, config: EngineConfig, io: EngineIO, stats: LiveStats, rng: np.random.Generator
    ) -> None:
        self._io = io
        self.tasks: set[asyncio.Task[None]] = set()
        self.flow: SessionFlow[asyncio.Task[None]] = SessionFlow(
            config, stats, rng, io.sink, self._launch
        )

    def _launch(self, session: AsyncSession) -> asyncio.Task[None]:
        task = asyncio.create_task(self._session(session))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def finish(self) -> None:
        """Record every turn no session got to (a deadline, or a task cancelled unstarted)."""
        self.flow.finish(self._io.clock())

    async def _session(self, session: AsyncSession) -> None:
        flow, io = self.flow, self._io
        clock = io.clock
        try:
            step = flow.begin(session, clock())
            while step is not None:
                if type(step) is Send:
                    if step.wait and not await io.sleep_until(step.scheduled_s):
                        flow.stopped(session, clock())
                        return
                    flow.sending(session, clock())
                    result = await io.send(step)
                    step = flow.answered(session, result, clock())
                else:
                    assert isinstance(step, WaitFor)
                    await asyncio.wait(step.handles)
                    step = flow.waited(session, clock())
        except asyncio.CancelledError:
            flow.cancel(session, clock())
            raise
