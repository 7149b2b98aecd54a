"""The Locust worker's engine: one shard of a plan in, one record per attempt out, open loop,
on gevent greenlets.

The semantics are the asyncio engine's (``harness.engine``, ``harness.engine_sessions``),
and the parts that decide anything are shared with it: records (``attempt_record``,
``cancelled_record``, ``unsent_record``), the prompt tag, the retry policy
(``harness.retry``) and the answer's classification (``harness.client.exchange``, through
``harness.locust.transport``). A root session's first turn is sent at its planned
``offset_s`` from the shared start instant, whatever is in flight; later turns wait for the
previous answer plus ``think_s``; sub-agent sessions start when their parent turn finished
well and ``waits_for`` waits for them. Locust's closed-loop wait times are never used: a
session is a greenlet held by the worker's Locust user. Bounded in time (new sessions only
before ``duration_s``, everything killed at ``duration_s + drain_s``) and in sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import gevent
import gevent.event
import gevent.pool
import numpy as np

from harness.client.exchange import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine import attempt_record, cancelled_record
from harness.engine_config import EngineConfig, LiveStats
from harness.engine_sessions import tag_messages, unsent_record
from harness.locust.transport import GeventClient
from harness.retry import retry_delay_s

_MAX_SLEEP_S = 0.25


class GeventEngine:
    """Sends one shard; ``clock`` reads seconds since the shared start instant."""

    def __init__(
        self,
        config: EngineConfig,
        client: GeventClient,
        sink: Callable[[AttemptRecord], None],
        *,
        clock: Callable[[], float],
        start_s: float,
        rng: np.random.Generator,
        stats: LiveStats,
    ) -> None:
        self._config = config
        self._client = client
        self._sink = sink
        self._clock = clock
        #: The transport's clock reading at run-clock zero.
        self._start_s = start_s
        self._rng = rng
        self.stats = stats
        self.stopped = gevent.event.Event()
        self._grace_until_s: float | None = None
        self._group = gevent.pool.Group()
        self._sessions: dict[str, list[PlannedRequest]] = {}
        self._children: dict[str, list[str]] = {}
        self._recorded: dict[str, int] = {}
        self._greenlets: dict[str, gevent.Greenlet] = {}

    def request_stop(self, grace_s: float) -> None:
        if not self.stopped.is_set():
            self._grace_until_s = self._clock() + grace_s
            self.stopped.set()

    def _sleep_until(self, when_s: float) -> bool:
        while True:
            if self.stopped.is_set():
                return False
            delay = when_s - self._clock()
            if delay <= 1e-6:
                return True
            gevent.sleep(min(delay, _MAX_SLEEP_S))

    def run(self, plan: Iterable[PlannedRequest]) -> float:
        """Send the shard; return the run-clock time the engine finished."""
        for request in plan:
            self._sessions.setdefault(request.session_id, []).append(request)
        ids: set[str] = set()
        for turns in self._sessions.values():
            turns.sort(key=lambda r: r.turn)
            ids.update(r.request_id for r in turns)
        roots = []
        for session_id, turns in self._sessions.items():
            self._recorded[session_id] = 0
            if turns[0].spawned_by in ids:
                self._children.setdefault(turns[0].spawned_by, []).append(session_id)
            else:
                roots.append(turns)
        roots.sort(key=lambda turns: (turns[0].offset_s, turns[0].session_id))
        config = self._config
        hard_end_s = config.duration_s + config.drain_s
        scheduler = gevent.spawn(self._schedule, roots)
        try:
            while not scheduler.dead or len(self._group):
                limit_s = hard_end_s
                if self._grace_until_s is not None:
                    limit_s = min(limit_s, self._grace_until_s)
                remaining = limit_s - self._clock()
                if remaining <= 0:
                    break
                gevent.sleep(min(remaining, 0.05))
        finally:
            scheduler.kill()
            self._group.kill()
            self._finish()
        return self._clock()

    def _schedule(self, roots: list[list[PlannedRequest]]) -> None:
        config = self._config
        for index, turns in enumerate(roots):
            first = turns[0]
            if first.offset_s >= config.duration_s or not self._sleep_until(first.offset_s):
                for rest in roots[index:]:
                    self._skip(rest, "run ended before this session started")
                return
            if len(self._group) >= config.max_sessions_in_flight:
                self._skip(turns, "too many sessions in flight", Outcome.DROPPED)
                continue
            self._start(turns)

    def _start(self, turns: list[PlannedRequest]) -> None:
        greenlet = self._group.spawn(self._session, turns)
        self._greenlets[turns[0].session_id] = greenlet

    def _skip(
        self,
        turns: list[PlannedRequest],
        why: str,
        outcome: Outcome = Outcome.CANCELLED,
        scheduled_s: float | None = None,
    ) -> None:
        session_id = turns[0].session_id
        rest = turns[self._recorded[session_id] :]
        self._recorded[session_id] = len(turns)
        if outcome is Outcome.DROPPED:
            self.stats.dropped += len(rest)
        for request in rest:
            when_s = request.offset_s if scheduled_s is None else scheduled_s
            self._sink(unsent_record(request, outcome, why, when_s))
        for request in turns:
            for child in self._children.get(request.request_id, ()):
                if child not in self._greenlets:
                    self._skip(
                        self._sessions[child], f"parent session {session_id}: {why}", outcome
                    )

    def _finish(self) -> None:
        now_s = self._clock()
        for session_id, turns in self._sessions.items():
            if self._recorded[session_id] < len(turns):
                why = (
                    "run deadline reached before this turn"
                    if session_id in self._greenlets
                    else "run ended before this session started"
                )
                self._skip(turns, why, scheduled_s=now_s)

    def _session(self, turns: list[PlannedRequest]) -> None:
        try:
            self._turns(turns)
        except gevent.GreenletExit:
            self._skip(turns, "run deadline reached before this turn", scheduled_s=self._clock())
            raise

    def _turns(self, turns: list[PlannedRequest]) -> None:
        config = self._config
        session_id = turns[0].session_id
        history: list[dict[str, str]] = []
        history_tokens = 0
        scheduled_s = turns[0].offset_s
        by_parent = turns[0].spawned_by in self._children
        for index, request in enumerate(turns):
            if index > 0 or by_parent:
                if request.waits_for:
                    waiting = [
                        self._greenlets[s] for s in request.waits_for if s in self._greenlets
                    ]
                    gevent.joinall(waiting)
                scheduled_s = self._clock() + request.think_s
                if scheduled_s >= config.duration_s:
                    self._skip(turns, "run ended before this turn", scheduled_s=scheduled_s)
                    return
                if not self._sleep_until(scheduled_s):
                    self._skip(turns, "run stopped before this turn", scheduled_s=scheduled_s)
                    return
            tokenizer = config.tokenizer
            added = [
                {"role": m.role, "content": m.content or tokenizer.text(m.tokens, m.seed)}
                for m in request.messages
            ]
            if config.tag_prompt:
                added = tag_messages(added, config.run_id, request.request_id)
            if not request.resend_history:
                history, history_tokens = [], 0
            messages = history + added
            prompt_tokens = history_tokens + sum(tokenizer.count(m["content"]) for m in added)
            self._recorded[session_id] = index + 1
            result = self._attempts(
                request, messages, prompt_tokens, scheduled_s, index + 1 < len(turns)
            )
            self.stats.requests_done += 1
            if result is None or result.outcome is not Outcome.OK:
                self.stats.requests_failed += 1
                self._skip(
                    turns, f"session ended: turn {request.turn} failed", scheduled_s=self._clock()
                )
                return
            for child in self._children.get(request.request_id, ()):
                child_turns = self._sessions[child]
                if len(self._group) >= config.max_sessions_in_flight:
                    self._skip(
                        child_turns,
                        "too many sessions in flight",
                        Outcome.DROPPED,
                        scheduled_s=self._clock(),
                    )
                else:
                    self._start(child_turns)
            history = [*messages, {"role": "assistant", "content": result.text}]
            history_tokens = prompt_tokens + tokenizer.count(result.text)

    def _attempts(
        self,
        request: PlannedRequest,
        messages: list[dict[str, str]],
        prompt_tokens: int,
        scheduled_s: float,
        keep_text: bool,
    ) -> AttemptResult | None:
        config, stats = self._config, self.stats
        attempt = 1
        while True:
            headers = {
                "x-tokenstorm-run-id": config.run_id,
                "x-tokenstorm-request-id": request.request_id,
                "x-tokenstorm-attempt": str(attempt),
            }
            stats.in_flight += 1
            sent_s = self._clock()
            try:
                result = self._client.send(
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
            except gevent.GreenletExit:
                self._sink(cancelled_record(request, attempt, scheduled_s, sent_s, self._clock()))
                raise
            finally:
                stats.in_flight -= 1
            stats.sent += 1
            record = attempt_record(
                request, attempt, scheduled_s, result, prompt_tokens, self._start_s
            )
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
            if scheduled_s >= config.duration_s + config.drain_s or not self._sleep_until(
                scheduled_s
            ):
                return result
            attempt += 1
