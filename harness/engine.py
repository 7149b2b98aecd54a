"""The asyncio engine: sends a plan open- or closed-loop, one record per client attempt out.

Sessions start at their planned ``offset_s`` whatever is in flight (open loop, ``run``); in
the closed loop (``run_closed_loop``) a session starts when one of N ends instead. Inside a
session (``harness.engine_sessions``) turns wait for the previous answer plus ``think_s``
(closed loop), and sub-agent sessions start when their parent turn has finished. Every
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
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from harness.client.http import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_closed_loop import keep_in_flight
from harness.engine_config import EngineConfig, LiveStats, Sender
from harness.engine_sessions import EngineIO, SessionRunner
from harness.retry import retry_delay_s

_MAX_SLEEP_S = 0.25  # sleep in slices so a stop request is seen quickly


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
        self._sender = sender
        #: Senders of other wire APIs by name (embeddings beside chat); else ``sender``.
        self._senders: Mapping[str, Sender] = senders or {}
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
        while True:
            if self.stop_requested.is_set():
                return False
            delay = when_s - self._clock()
            if delay <= 1e-6:  # below clock resolution after float rounding: due now
                return True
            await asyncio.sleep(min(delay, _MAX_SLEEP_S))

    def _sessions(self, plan: Iterable[PlannedRequest]) -> SessionRunner:
        return SessionRunner(
            plan,
            self._config,
            EngineIO(
                send=self._attempts,
                sink=self._sink,
                clock=self._clock,
                sleep_until=self._sleep_until,
            ),
            self.stats,
        )

    async def run(self, plan: Iterable[PlannedRequest]) -> float:
        """Send a whole plan; return the run-clock time the engine finished."""
        return await self.run_units(iter([list(plan)]))

    async def run_units(self, units: Iterator[Sequence[PlannedRequest]]) -> float:
        """Send a plan drawn unit by unit (``workloads.plan_stream``: units ordered by their
        first request), holding only the sessions not yet ended; return the run-clock time
        the engine finished."""
        sessions = self._sessions(())
        return await self._until_done(sessions, self._schedule(sessions, units))

    async def run_closed_loop(
        self, units: Iterator[Sequence[PlannedRequest]], concurrency: int
    ) -> float:
        """Keep ``concurrency`` sessions in flight, drawing ``units`` (a session with its
        sub-agents, or a batch job's independent requests) as slots free; a unit's root
        sessions take one slot each. Return the run-clock time the engine finished."""
        sessions = self._sessions(())
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
        self._start_s = self._now()
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
        config = self._config

        def draw() -> list[list[PlannedRequest]] | None:
            unit = next(units, None)
            return None if unit is None else sessions.add(unit)

        waiting: list[tuple[float, str, list[PlannedRequest]]] = []
        ahead = draw()
        while True:
            while ahead is not None and (not waiting or _first(ahead) <= waiting[0][:2]):
                for turns in ahead:
                    heapq.heappush(waiting, (turns[0].offset_s, turns[0].session_id, turns))
                ahead = draw()
            if not waiting:
                return
            offset_s, _, turns = heapq.heappop(waiting)
            if offset_s >= config.duration_s or not await self._sleep_until(offset_s):
                left = [turns, *(entry[2] for entry in waiting), *(ahead or ())]
                if not self.stop_requested.is_set():
                    # Past the end, what the plan still holds (a trace's later rows) is
                    # recorded; after a stop the plan ends here (units not drawn are not
                    # planned).
                    left.extend(turns for unit in units for turns in sessions.add(unit))
                for turns_left in left:
                    sessions.skip(turns_left, "run ended before this session started")
                return
            if len(sessions.tasks) >= config.max_sessions_in_flight:
                sessions.skip(turns, "too many sessions in flight", Outcome.DROPPED)
                continue
            sessions.start(turns)

    async def _attempts(
        self,
        request: PlannedRequest,
        messages: list[dict[str, str]],
        prompt_tokens: int,
        scheduled_s: float,
        keep_text: bool,
    ) -> AttemptResult | None:
        """One turn's attempts, retried by the policy; the last attempt's result."""
        config = self._config
        attempt = 1
        while True:
            headers = {
                "x-tokenstorm-run-id": config.run_id,
                "x-tokenstorm-request-id": request.request_id,
                "x-tokenstorm-attempt": str(attempt),
            }
            stats = self.stats
            stats.in_flight += 1
            sent_s = self._clock()
            try:
                sender = self._senders.get(request.api, self._sender)
                result = await sender.send(
                    model=request.model,
                    messages=messages,
                    max_tokens=request.max_tokens,
                    stream=request.stream,
                    timeout_s=config.timeout_s,
                    first_token_timeout_s=config.first_token_timeout_s,
                    headers=headers,
                    keep_text=keep_text,
                    client_prompt_tokens=prompt_tokens,
                )
            except asyncio.CancelledError:
                self._sink(cancelled_record(request, attempt, scheduled_s, sent_s, self._clock()))
                raise
            finally:
                stats.in_flight -= 1
            stats.sent += 1
            record = self._record(request, attempt, scheduled_s, result, prompt_tokens)
            self._sink(record)
            if result.outcome is Outcome.OK:
                stats.ok += 1
                if record.first_token_s is not None:
                    stats.last_ttft_s = record.first_token_s - (record.sent_s or 0.0)
                return result
            stats.failed_attempts += 1
            delay = retry_delay_s(
                config.retry,
                attempt,
                result.outcome,
                result.status_code,
                result.retry_after_s,
                float(self._rng.random()),
                result.should_retry,
            )
            if delay is None:
                return result
            scheduled_s = record.done_s + delay if record.done_s is not None else self._clock()
            if scheduled_s >= config.duration_s + config.drain_s or not await self._sleep_until(
                scheduled_s
            ):
                return result
            attempt += 1

    def _record(
        self,
        request: PlannedRequest,
        attempt: int,
        scheduled_s: float,
        result: AttemptResult,
        prompt_tokens: int,
    ) -> AttemptRecord:
        return attempt_record(request, attempt, scheduled_s, result, prompt_tokens, self._start_s)


def attempt_record(
    request: PlannedRequest,
    attempt: int,
    scheduled_s: float,
    result: AttemptResult,
    prompt_tokens: int,
    start: float,
) -> AttemptRecord:
    """The record of one attempt; ``result``'s clock readings made run-clock by ``start``."""
    return AttemptRecord(
        request_id=request.request_id,
        session_id=request.session_id,
        turn=request.turn,
        attempt=attempt,
        scheduled_s=_r(scheduled_s),
        sent_s=_r(result.sent_s - start),
        first_byte_s=_opt(result.first_byte_s, start),
        first_token_s=_opt(result.first_token_s, start),
        done_s=_r(result.done_s - start),
        status_code=result.status_code,
        outcome=result.outcome.value,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cached_tokens=result.cached_tokens,
        usage_source=result.usage_source,
        model=result.model,
        deployment=result.deployment,
        error_detail=result.error_detail,
        token_times_s=tuple(_r(t - start) for t in result.token_times_s),
        api=request.api,
        tags=request.tags,
        retry_after_s=result.retry_after_s,
        fault=result.fault,
        cache_write_tokens=result.cache_write_tokens,
        planned_prompt_tokens=prompt_tokens,
        finish_reason=result.finish_reason,
    )


def _first(roots: Sequence[list[PlannedRequest]]) -> tuple[float, str]:
    """Where a unit's earliest root session starts: its (offset, session)."""
    return min(((t[0].offset_s, t[0].session_id) for t in roots), default=(-math.inf, ""))


def _r(value: float) -> float:
    return round(value, 6)


def _opt(value: float | None, start: float) -> float | None:
    return None if value is None else round(value - start, 6)


def cancelled_record(
    request: PlannedRequest, attempt: int, scheduled_s: float, sent_s: float, now_s: float
) -> AttemptRecord:
    return AttemptRecord(
        request_id=request.request_id,
        session_id=request.session_id,
        turn=request.turn,
        attempt=attempt,
        scheduled_s=_r(scheduled_s),
        sent_s=_r(sent_s),
        first_byte_s=None,
        first_token_s=None,
        done_s=_r(now_s),
        status_code=None,
        outcome=Outcome.CANCELLED.value,
        prompt_tokens=None,
        completion_tokens=None,
        cached_tokens=None,
        usage_source=None,
        model=request.model,
        deployment=None,
        error_detail="cancelled in flight: run deadline or stop",
        api=request.api,
        tags=request.tags,
    )
