"""The asyncio engine: sends a plan open- or closed-loop, one record per client attempt out.

Sessions start at their planned ``offset_s`` whatever is in flight (open loop, ``run``); in
the closed loop (``run_closed_loop``) a session starts when one of N ends instead. Inside a
session turns wait for the previous answer plus ``think_s`` (closed loop), and sub-agent
sessions start when their parent turn has finished: what a session does next, retries and
records are decided by the session flow (``harness.session_flow``), which the Locust worker
drives too; its sessions run here as tasks (``harness.engine_sessions``). Every
attempt records its intended (``scheduled_s``) and actual (``sent_s``) send time, so the
engine's own lateness is visible. Bounded in time (new sessions only before ``duration_s``,
everything cancelled at ``duration_s + drain_s``) and in memory (at most
``max_sessions_in_flight`` sessions; ``run_units`` draws the plan as it goes and a session
is dropped once all its turns are recorded). The clock (``now``) and the random generator are
passed in.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from harness.client.exchange import AttemptResult
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_closed_loop import keep_in_flight
from harness.engine_config import EngineConfig, LiveStats, Sender
from harness.engine_sessions import AsyncSession, EngineIO, SessionRunner
from harness.session_flow.steps import Send, Senders, sleep_slice_s


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        sender: Sender,
        sink: Callable[[AttemptRecord], None],
        *,
        now: Callable[[], float],
        rng: np.random.Generator,
        stats: LiveStats | None = None,
        senders: Mapping[str, Sender] | None = None,
    ) -> None:
        self._config = config
        #: ``sender``, and senders of other wire APIs by name (embeddings beside chat).
        self._senders = Senders(sender, senders or {})
        self._sink = sink
        self._now = now
        self._rng = rng
        self.stats = stats or LiveStats()
        self.stop_requested = asyncio.Event()
        #: Set when the run clock starts (``clock_s`` reads it from then on).
        self.started = asyncio.Event()
        self._start_s = 0.0
        self._grace_until_s: float | None = None

    def request_stop(self, grace_s: float) -> None:
        """Stop scheduling; let in-flight attempts finish for at most ``grace_s``."""
        if not self.stop_requested.is_set():
            self._grace_until_s = self._clock() + grace_s
            self.stop_requested.set()

    def _clock(self) -> float:
        return self._now() - self._start_s

    def clock_s(self) -> float:
        """The run clock: seconds since the engine started sending."""
        return self._clock()

    async def _sleep_until(self, when_s: float) -> bool:
        """Sleep until run-clock ``when_s``; False if a stop came first."""
        while not self.stop_requested.is_set():
            if not (slice_s := sleep_slice_s(when_s, self._clock())):
                return True
            await asyncio.sleep(slice_s)
        return False

    def _sessions(self) -> SessionRunner:
        io = EngineIO(
            send=self._send, sink=self._sink, clock=self._clock, sleep_until=self._sleep_until
        )
        return SessionRunner(self._config, io, self.stats, self._rng)

    def _send(self, step: Send) -> Awaitable[AttemptResult]:
        """One attempt, by the sender of its request's wire API."""
        return self._senders.of(step).send(**step.args)

    async def run(self, plan: Iterable[PlannedRequest]) -> float:
        """Send a whole plan; return the run-clock time the engine finished."""
        return await self.run_units(iter([list(plan)]))

    async def run_units(self, units: Iterator[Sequence[PlannedRequest]]) -> float:
        """Send a plan drawn unit by unit (``workloads.plan_stream``: units ordered by their
        first request), holding only the sessions not yet ended; return the run-clock time
        the engine finished."""
        sessions = self._sessions()
        return await self._until_done(sessions, self._schedule(sessions, units))

    async def run_closed_loop(
        self, units: Iterator[Sequence[PlannedRequest]], concurrency: int
    ) -> float:
        """Keep ``concurrency`` sessions in flight, drawing ``units`` (a session with its
        sub-agents, or a batch job's independent requests) as slots free; a unit's root
        sessions take one slot each. Return the run-clock time the engine finished."""
        sessions = self._sessions()
        schedule = keep_in_flight(
            sessions,
            units,
            concurrency,
            clock=self._clock,
            stopped=self.stop_requested,
            duration_s=self._config.duration_s,
            max_sessions=self._config.max_closed_loop_sessions,
        )
        return await self._until_done(sessions, schedule)

    async def _until_done(
        self, sessions: SessionRunner, schedule: Coroutine[Any, Any, None]
    ) -> float:
        self._start_s = sessions.flow.origin_s = self._now()
        self.started.set()
        hard_end_s = self._config.duration_s + self._config.drain_s
        scheduler = asyncio.create_task(schedule)
        try:
            while not scheduler.done() or sessions.tasks:
                limit_s = (
                    hard_end_s
                    if self._grace_until_s is None
                    else min(hard_end_s, self._grace_until_s)
                )
                remaining = limit_s - self._clock()
                if remaining <= 0:
                    break
                # Polling keeps the hot path free of per-task wait bookkeeping.
                await asyncio.sleep(min(remaining, 0.05))
        finally:
            scheduler.cancel()
            for task in list(sessions.tasks):
                task.cancel()
            await asyncio.gather(scheduler, *sessions.tasks, return_exceptions=True)
            sessions.finish()
        return self._clock()

    async def _schedule(
        self, sessions: SessionRunner, units: Iterator[Sequence[PlannedRequest]]
    ) -> None:
        """Start root sessions at their offsets, in (offset, session) order. A unit is drawn
        (and its sessions held) one ahead: only once the earliest root waiting starts no
        earlier than it, so roots start in order whatever the units' spans."""
        config, flow = self._config, sessions.flow

        def draw() -> list[AsyncSession] | None:
            unit = next(units, None)
            return None if unit is None else flow.add(unit)

        waiting: list[tuple[float, str, AsyncSession]] = []
        ahead = draw()
        while True:
            while ahead is not None and (not waiting or _first(ahead) <= waiting[0][:2]):
                for root in ahead:
                    first = root.turns[0]
                    heapq.heappush(waiting, (first.offset_s, first.session_id, root))
                ahead = draw()
            if not waiting:
                return
            offset_s, _, session = heapq.heappop(waiting)
            if offset_s >= config.duration_s or not await self._sleep_until(offset_s):
                left = [session, *(entry[2] for entry in waiting), *(ahead or ())]
                if not self.stop_requested.is_set():
                    # Past the end, what the plan still holds (a trace's later rows) is
                    # recorded; after a stop the plan ends here (units not drawn are not
                    # planned).
                    left.extend(root for unit in units for root in flow.add(unit))
                for root in left:
                    flow.skip(root, "run ended before this session started")
                return
            flow.start_root(session)


def _first(roots: Sequence[AsyncSession]) -> tuple[float, str]:
    """Where a unit's earliest root session starts: its (offset, session)."""
    return min(
        ((s.turns[0].offset_s, s.turns[0].session_id) for s in roots), default=(-math.inf, "")
    )
