"""The Locust worker's engine: the windows of the plan dealt to this worker in, as they come,
one record per attempt out, open loop, on gevent greenlets.

What a session does is the asyncio engine's, decided once in the session flow
(``harness.session_flow``): when each turn and retry is due, the history and prompt tag, the
retry policy (``harness.retry``), sub-agent sessions and ``waits_for``, the client of each
attempt's wire API (embeddings beside chat), and every record. Here each session is a
greenlet that does what the flow says (sleep, send through ``harness.locust.transport``, whose
answers are classified by ``harness.client.exchange``, join other sessions' greenlets). A
root session's first turn is sent at its planned ``offset_s`` from the shared start instant,
whatever is in flight. Locust's closed-loop wait times are never used: a session is a
greenlet held by the worker's Locust user. Bounded in time (new sessions only before
``duration_s``, everything killed at ``duration_s + drain_s``) and in sessions. Windows
(``add``) may come while the engine runs, until ``end_of_plan``: the engine holds only the
sessions of the windows it was sent and has not finished with.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping

import gevent
import gevent.event
import gevent.pool
import numpy as np

from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_config import EngineConfig, LiveStats
from harness.locust.transport import GeventClient
from harness.session_flow.flow import SessionFlow
from harness.session_flow.steps import (
    SLICE_S,
    Send,
    Senders,
    Session,
    WaitFor,
    sleep_slice_s,
)


class GeventEngine:
    """Sends one shard; ``clock`` reads seconds since the shared start instant."""

    def __init__(
        self,
        config: EngineConfig,
        client: GeventClient,
        *,
        clock: Callable[[], float],
        start_s: float,
        sink: Callable[[AttemptRecord], None],
        rng: np.random.Generator,
        stats: LiveStats,
        senders: Mapping[str, GeventClient] | None = None,
    ) -> None:
        self._config = config
        #: ``client``, and clients of other wire APIs by name (embeddings beside chat),
        #: chosen per attempt as the asyncio engine chooses (``Senders``).
        self._senders = Senders(client, senders or {})
        self._clock = clock
        self.stats = stats
        self.stopped = gevent.event.Event()
        self._grace_until_s: float | None = None
        self._group = gevent.pool.Group()
        self._flow: SessionFlow[gevent.Greenlet] = SessionFlow(
            config, stats, rng, sink, self._launch
        )
        #: The transport's clock reading at run-clock zero.
        self._flow.origin_s = start_s
        #: Root sessions not started yet, by (offset, session id).
        self._waiting: list[tuple[float, str, int, Session[gevent.Greenlet]]] = []
        self._count = itertools.count()
        self._arrived = gevent.event.Event()
        self._plan_ended = False
        self._scheduling_over = False

    def add(self, requests: Iterable[PlannedRequest]) -> None:
        """Take in a window of the plan: whole units (a session with its sub-agents)."""
        roots = self._flow.add(requests)
        if self._scheduling_over:  # no session starts any more (stop, deadline)
            for root in roots:
                self._flow.skip(root, "run ended before this session started")
            return
        for root in roots:
            first = root.turns[0]
            heapq.heappush(
                self._waiting, (first.offset_s, first.session_id, next(self._count), root)
            )
        self._arrived.set()

    def end_of_plan(self) -> None:
        """No more windows come: the engine ends once what it holds is done."""
        self._plan_ended = True
        self._arrived.set()

    def request_stop(self, grace_s: float) -> None:
        if not self.stopped.is_set():
            self._grace_until_s = self._clock() + grace_s
            self.stopped.set()

    def _sleep_until(self, when_s: float) -> bool:
        """Sleep until run-clock ``when_s``; False if a stop came first."""
        while not self.stopped.is_set():
            if not (slice_s := sleep_slice_s(when_s, self._clock())):
                return True
            gevent.sleep(slice_s)
        return False

    def run(self, plan: Iterable[PlannedRequest] | None = None) -> float:
        """Send ``plan`` whole (None: the windows ``add`` takes in until ``end_of_plan``);
        return the run-clock time the engine finished."""
        if plan is not None:
            self.add(plan)
            self.end_of_plan()
        config = self._config
        hard_end_s = config.duration_s + config.drain_s
        scheduler = gevent.spawn(self._schedule)
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
            self._flow.finish(self._clock())
        return self._clock()

    def _schedule(self) -> None:
        """Start root sessions at their offsets, in (offset, session) order, as windows bring
        them; until the plan ended and every root is started, or a stop."""
        config, flow, waiting = self._config, self._flow, self._waiting
        try:
            while True:
                if self.stopped.is_set():
                    while waiting:
                        root = heapq.heappop(waiting)[3]
                        flow.skip(root, "run ended before this session started")
                    return
                if not waiting:
                    if self._plan_ended:
                        return
                    self._arrived.clear()
                    self._arrived.wait(timeout=SLICE_S)
                    continue
                offset_s, _, _, session = waiting[0]
                if offset_s >= config.duration_s:  # past the end (a trace's later rows)
                    heapq.heappop(waiting)
                    flow.skip(session, "run ended before this session started")
                    continue
                if slice_s := sleep_slice_s(offset_s, self._clock()):
                    gevent.sleep(slice_s)  # then look again: a window may bring an earlier one
                    continue
                heapq.heappop(waiting)
                flow.start_root(session)
        finally:  # killed at the deadline: ``flow.finish`` records what is still held
            self._scheduling_over = True

    def _launch(self, session: Session[gevent.Greenlet]) -> gevent.Greenlet:
        return self._group.spawn(self._session, session)

    def _session(self, session: Session[gevent.Greenlet]) -> None:
        """Do what the flow says until the session is over."""
        flow, clock = self._flow, self._clock
        try:
            step = flow.begin(session, clock())
            while step is not None:
                if isinstance(step, WaitFor):
                    gevent.joinall(step.handles)
                    step = flow.waited(session, clock())
                    continue
                assert isinstance(step, Send)
                if step.wait and not self._sleep_until(step.scheduled_s):
                    flow.stopped(session, clock())
                    return
                flow.sending(session, clock())
                result = self._senders.of(step).send(**step.args)
                step = flow.answered(session, result, clock())
        except gevent.GreenletExit:
            flow.cancel(session, clock())
            raise
