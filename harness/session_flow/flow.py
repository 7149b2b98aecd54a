"""The session flow: a unit's sessions in, each turn sent in order or recorded as never sent
(exactly one final record per planned request), sub-agent sessions started and waited for.

A driver (an engine) starts root sessions (``start``) and runs each session as a task of its
own: ``begin`` gives the first step, then each step done gives the next, until None (the
session is over). A step is ``Send`` (attempt ``attempt`` of ``request`` with ``args``, not
before run-clock ``scheduled_s``: the driver sleeps until then when ``wait`` is set, says
``sending`` and feeds the answer to ``answered``) or ``WaitFor`` (wait until those sessions'
tasks end, then ``waited``). A sleep a stop cut short is ``stopped``; a task killed mid-way is
``cancel``. Sub-agent sessions are started through the driver's ``launch`` callback; the
driver reads the clock, the flow only the times it is given.

Inside a session, turns wait for the previous answer plus ``think_s`` and re-send the history
with the answers actually received; an embeddings turn (``rag``'s ``embed_query``) is sent
alone and never joins the history. A session whose first turn names ``spawned_by`` (a parent
turn in the unit) is a sub-agent: it starts when that turn has finished well, not at its
offset; a turn with ``waits_for`` waits until those sessions have ended (however they ended)
before its think time starts. A failed turn (retried by ``harness.retry`` first) ends its
session: its later turns and every sub-agent not yet started below it are recorded
``cancelled``. ``finish`` records whatever a deadline left unsent, so planned and recorded
requests always match. Memory is bounded by the sessions held: one is dropped once it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic

import numpy as np

from harness.client.exchange import AttemptResult
from harness.contract.apis import OPENAI_EMBEDDINGS
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_config import EngineConfig, LiveStats
from harness.retry import retry_delay_s
from harness.session_flow.prompt import turn_prompt
from harness.session_flow.records import attempt_record, cancelled_record, unsent_record
from harness.session_flow.steps import H, Send, Session, WaitFor, retry_step, send_step


class SessionFlow(Generic[H]):
    """The sessions of one run and what each does next; ``launch`` runs a session as the
    driver's task and returns its handle."""

    def __init__(
        self,
        config: EngineConfig,
        stats: LiveStats,
        rng: np.random.Generator,
        sink: Callable[[AttemptRecord], None],
        launch: Callable[[Session[H]], H],
    ) -> None:
        self._config, self._stats, self._rng = config, stats, rng
        self._sink, self._launch = sink, launch
        #: The clients' clock reading at run-clock zero (records are run-clock).
        self.origin_s = 0.0
        #: Sessions started and not ended (the limit ``max_sessions_in_flight`` counts these).
        self.running = 0
        self._sessions: dict[str, Session[H]] = {}
        self._children: dict[str, list[Session[H]]] = {}

    def __len__(self) -> int:
        """Sessions held: planned, running, or left for ``finish``."""
        return len(self._sessions)

    def add(self, unit: Iterable[PlannedRequest]) -> list[Session[H]]:
        """Take in the sessions of one unit; return its root sessions (those no planned turn
        of it spawns) by (offset, session id)."""
        added: dict[str, Session[H]] = {}
        for request in unit:
            session = added.get(request.session_id)
            if session is None:
                added[request.session_id] = Session([request])
            else:
                session.turns.append(request)
        known = {r.request_id for session in added.values() for r in session.turns}
        roots: list[Session[H]] = []
        for session_id, session in added.items():
            session.turns.sort(key=lambda r: r.turn)
            self._sessions[session_id] = session
            parent = session.turns[0].spawned_by
            if parent in known:
                self._children.setdefault(parent, []).append(session)
            else:  # no parent, or one cut from the plan: started by its offset
                roots.append(session)
        roots.sort(key=lambda s: (s.turns[0].offset_s, s.turns[0].session_id))
        return roots

    def start(
        self, session: Session[H], start_s: float | None = None, by_parent: bool = False
    ) -> H:
        """Run ``session`` as a task of the driver's; ``start_s`` is its first turn's intended
        send time when that is not its planned offset."""
        session.started, session.start_s, session.by_parent = True, start_s, by_parent
        self.running += 1
        session.handle = handle = self._launch(session)
        return handle

    def start_root(self, session: Session[H]) -> None:
        """Start a root session at its offset, unless ``max_sessions_in_flight`` sessions run
        already: then its turns (and its sub-agents') are recorded ``dropped``."""
        if self.running >= self._config.max_sessions_in_flight:
            self.skip(session, "too many sessions in flight", Outcome.DROPPED)
        else:
            self.start(session)

    def begin(self, session: Session[H], now_s: float) -> Send | WaitFor[H] | None:
        """The session's first step."""
        return self._next(session, now_s, False)

    def waited(self, session: Session[H], now_s: float) -> Send | WaitFor[H] | None:
        """The sessions of a ``WaitFor`` have ended: the turn's think time starts."""
        return self._next(session, now_s, True)

    def sending(self, session: Session[H], now_s: float) -> None:
        """The session's ``Send`` goes out now: its attempt will write the turn's record."""
        step = session.step
        assert step is not None
        if step.attempt == 1:
            session.recorded += 1
        session.sent_s = now_s
        self._stats.in_flight += 1

    def answered(
        self, session: Session[H], result: AttemptResult, now_s: float
    ) -> Send | WaitFor[H] | None:
        """The attempt in flight ended with ``result``: record it, then retry, go on or end."""
        step, stats, config = session.step, self._stats, self._config
        assert step is not None
        request, attempt = step.request, step.attempt
        session.sent_s = None
        stats.in_flight -= 1
        stats.sent += 1
        prompt_tokens = step.args["client_prompt_tokens"]
        record = attempt_record(
            request, attempt, step.scheduled_s, result, prompt_tokens, self.origin_s
        )
        self._sink(record)
        if result.outcome is Outcome.OK:
            stats.ok += 1
            if record.first_token_s is not None:
                stats.last_ttft_s = record.first_token_s - (record.sent_s or 0.0)
            stats.requests_done += 1
            self._spawn(request, now_s)
            if request.api != OPENAI_EMBEDDINGS:
                answer = {"role": "assistant", "content": result.text}
                session.history = [*step.args["messages"], answer]
                session.history_tokens = prompt_tokens + config.tokenizer.count(result.text)
            return self._next(session, now_s, False)
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
        if delay is not None:
            retry_s = record.done_s + delay if record.done_s is not None else now_s
            if retry_s < config.duration_s + config.drain_s:
                session.step = step = retry_step(config, step, retry_s)
                return step
        self._failed(session, request, now_s)
        return None

    def stopped(self, session: Session[H], now_s: float) -> None:
        """A stop cut the sleep before the session's ``Send``: the session ends here."""
        step = session.step
        assert step is not None
        if step.attempt == 1:
            self.skip(session, "run stopped before this turn", scheduled_s=step.scheduled_s)
        else:  # a retry never sent: the turn failed with its last attempt
            self._failed(session, step.request, now_s)

    def cancel(self, session: Session[H], now_s: float) -> None:
        """The driver's task was killed (deadline, stop's grace): the attempt in flight is
        recorded ``cancelled``, the turns after it never sent."""
        step, sent_s = session.step, session.sent_s
        if step is not None and sent_s is not None:
            session.sent_s = None
            self._stats.in_flight -= 1
            self._sink(
                cancelled_record(step.request, step.attempt, step.scheduled_s, sent_s, now_s)
            )
        self.skip(session, "run deadline reached before this turn", scheduled_s=now_s)

    def skip(
        self,
        session: Session[H],
        why: str,
        outcome: Outcome = Outcome.CANCELLED,
        scheduled_s: float | None = None,
    ) -> None:
        """Record the session's unrecorded turns as never sent (intended at ``scheduled_s``,
        else each its offset), and every sub-agent session below it not started; it ends."""
        turns = session.turns
        rest = turns[session.recorded :]
        session.recorded = len(turns)
        if outcome is Outcome.DROPPED:
            self._stats.dropped += len(rest)
        for request in rest:
            when_s = request.offset_s if scheduled_s is None else scheduled_s
            self._sink(unsent_record(request, outcome, why, when_s))
        for request in turns:
            for child in self._children.get(request.request_id, ()):
                if not child.started and not child.ended:
                    why_child = f"parent session {turns[0].session_id}: {why}"
                    self.skip(child, why_child, outcome, scheduled_s)
        self._end(session)

    def finish(self, now_s: float) -> None:
        """Record every turn no session got to (a deadline, or a task killed unstarted)."""
        for session in list(self._sessions.values()):
            if not session.ended and session.recorded < len(session.turns):
                why = (
                    "run deadline reached before this turn"
                    if session.started
                    else "run ended before this session started"
                )
                self.skip(session, why, scheduled_s=now_s)

    def _next(self, session: Session[H], now_s: float, waited: bool) -> Send | WaitFor[H] | None:
        """The step of the session's next turn, or None when the session is over."""
        turns, index = session.turns, session.recorded
        if index == len(turns):
            self._end(session)
            return None
        request = turns[index]
        if index == 0 and not session.by_parent:
            scheduled_s = request.offset_s if session.start_s is None else session.start_s
            wait = False
        else:
            if request.waits_for and not waited:
                handles = self._running(request.waits_for)
                if handles:
                    session.step = None
                    return WaitFor(handles)
            scheduled_s = now_s + request.think_s
            if scheduled_s >= self._config.duration_s:
                self.skip(session, "run ended before this turn", scheduled_s=scheduled_s)
                return None
            wait = True
        config, keep_text = self._config, index + 1 < len(turns)
        messages, tokens = turn_prompt(request, config, session.history, session.history_tokens)
        session.step = step = send_step(
            config, request, 1, scheduled_s, wait, messages, tokens, keep_text
        )
        return step

    def _running(self, session_ids: tuple[str, ...]) -> list[H]:
        """The handles of those sessions that run (ones never started, dropped or cut from
        the plan have nothing to wait for)."""
        handles = []
        for session_id in session_ids:
            other = self._sessions.get(session_id)
            if other is not None and other.started and not other.ended:
                assert other.handle is not None
                handles.append(other.handle)
        return handles

    def _spawn(self, request: PlannedRequest, now_s: float) -> None:
        """Start the sub-agent sessions ``request`` spawns (the session limit still holds)."""
        for child in self._children.get(request.request_id, ()):
            if self.running >= self._config.max_sessions_in_flight:
                why = "too many sessions in flight"
                self.skip(child, why, Outcome.DROPPED, scheduled_s=now_s)
            else:
                self.start(child, by_parent=True)

    def _failed(self, session: Session[H], request: PlannedRequest, now_s: float) -> None:
        stats = self._stats
        stats.requests_done += 1
        stats.requests_failed += 1
        self.skip(session, f"session ended: turn {request.turn} failed", scheduled_s=now_s)

    def _end(self, session: Session[H]) -> None:
        """The session is over: it is dropped, and the map of the sub-agents it spawned."""
        if session.ended:
            return
        session.ended = True
        if session.started:
            self.running -= 1
        session.handle = None
        self._sessions.pop(session.turns[0].session_id, None)
        for request in session.turns:
            self._children.pop(request.request_id, None)
