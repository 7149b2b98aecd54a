"""A driver of the session flow on a fake clock, for its tests: discrete events on a heap,
answers from a script, no loop, no threads. It does what both engines do (roots started at
their offsets, sleeps, sends, waits for other sessions, a stop, the hard deadline), with
session ids as the sessions' handles."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from harness.client.exchange import AttemptResult
from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.contract.target import Backoff, RetryPolicy
from harness.engine_config import EngineConfig, LiveStats
from harness.session_flow.flow import SessionFlow
from harness.session_flow.steps import Send, Session, WaitFor

#: (request id, attempt) -> (outcome, latency in seconds, retry-after in seconds)
Script = Callable[[str, int], tuple[Outcome, float, float | None]]
Step = Send | WaitFor[str] | None


def ok(_request_id: str, _attempt: int) -> tuple[Outcome, float, float | None]:
    return Outcome.OK, 1.0, None


def config(duration_s: float = 100.0, drain_s: float = 10.0, attempts: int = 1) -> EngineConfig:
    policy = RetryPolicy(attempts=attempts, backoff=Backoff(base=0.5, max=4.0, jitter=0.0))
    return EngineConfig("run", duration_s, drain_s, 60.0, None, policy)


@dataclass
class FakeDriver:
    """``run(plan)`` sends ``plan`` through a ``SessionFlow`` on a fake clock."""

    script: Script = ok
    config: EngineConfig = field(default_factory=config)
    #: A stop at this time: sleeps cut short, no root started after it, nothing killed.
    stop_s: float | None = None
    now_s: float = 0.0
    records: list[AttemptRecord] = field(default_factory=list)
    sent: list[Send] = field(default_factory=list)
    stats: LiveStats = field(default_factory=LiveStats)
    _events: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _ended: set[str] = field(default_factory=set)
    _waiting: list[tuple[Session[str], set[str]]] = field(default_factory=list)
    _busy: dict[str, Session[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(0)
        self.flow = SessionFlow(self.config, self.stats, rng, self.records.append, self._launch)

    def at(self, when_s: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when_s, next(self._seq), action))

    def run(self, plan: list[PlannedRequest]) -> list[AttemptRecord]:
        """Roots at their offsets, everything killed at the hard deadline, then ``finish``."""
        flow, duration_s = self.flow, self.config.duration_s
        for root in flow.add(plan):
            offset_s = root.turns[0].offset_s
            stopped = self.stop_s is not None and offset_s >= self.stop_s
            if offset_s >= duration_s or stopped:
                flow.skip(root, "run ended before this session started")
            else:
                self.at(offset_s, lambda root=root: self._start(root))
        hard_end_s = duration_s + self.config.drain_s
        while self._events and self._events[0][0] < hard_end_s:
            self.now_s, _, action = heapq.heappop(self._events)
            action()
        self.now_s = max(self.now_s, hard_end_s) if self._events else self.now_s
        for session in list(self._busy.values()):
            flow.cancel(session, self.now_s)
        flow.finish(self.now_s)
        return self.records

    def _start(self, root: Session[str]) -> None:
        self.flow.start(root)

    def _launch(self, session: Session[str]) -> str:
        session_id = session.turns[0].session_id
        self._busy[session_id] = session
        self.at(self.now_s, lambda: self._do(session, self.flow.begin(session, self.now_s)))
        return session_id

    def _do(self, session: Session[str], step: Step) -> None:
        if step is None:
            self._end(session)
        elif isinstance(step, WaitFor):
            self._waiting.append((session, set(step.handles)))
            self._wake()
        elif step.wait and self.stop_s is not None and step.scheduled_s > self.stop_s:
            self.at(max(self.now_s, self.stop_s), lambda: self._stopped(session))
        else:
            self.at(max(self.now_s, step.scheduled_s), lambda: self._send(session, step))

    def _stopped(self, session: Session[str]) -> None:
        self.flow.stopped(session, self.now_s)
        self._end(session)

    def _send(self, session: Session[str], step: Send) -> None:
        self.flow.sending(session, self.now_s)
        self.sent.append(step)
        outcome, latency_s, retry_after_s = self.script(step.request.request_id, step.attempt)
        sent_s = self.now_s

        def answer() -> None:
            result = answer_of(outcome, sent_s, self.now_s, retry_after_s, step.args["keep_text"])
            self._do(session, self.flow.answered(session, result, self.now_s))

        self.at(self.now_s + latency_s, answer)

    def _end(self, session: Session[str]) -> None:
        session_id = session.turns[0].session_id
        self._busy.pop(session_id, None)
        self._ended.add(session_id)
        self._wake()

    def _wake(self) -> None:
        still = []
        for session, handles in self._waiting:
            if handles <= self._ended:
                self.at(self.now_s, lambda s=session: self._do(s, self.flow.waited(s, self.now_s)))
            else:
                still.append((session, handles))
        self._waiting = still


def answer_of(
    outcome: Outcome, sent_s: float, done_s: float, retry_after_s: float | None, keep: bool
) -> AttemptResult:
    """An answer as a client classifies it: 3 words when ok, a status when not."""
    is_ok = outcome is Outcome.OK
    status_code = 200 if is_ok else 429 if outcome is Outcome.HTTP_429 else 500
    # AttemptResult's fields in order: the times, status and outcome; the usage (prompt,
    # completion, cached tokens, source); model, deployment, error, token times, the
    # retry-after hint, fault and text.
    head = (sent_s, sent_s, sent_s if is_ok else None, done_s, status_code, outcome)
    usage: tuple[None, int | None, None, str | None] = (
        (None, 3, None, "server") if is_ok else (None, None, None, None)
    )
    text = "alpha beta gamma" if keep and is_ok else ""
    return AttemptResult(*head, *usage, "m", "d", None, (), retry_after_s, None, text)
