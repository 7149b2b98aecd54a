"""The Locust worker's engine: one shard of a plan in, one record per attempt out, open loop,
on gevent greenlets.

What a session does is the asyncio engine's, decided once in the session flow
(``harness.session_flow``): when each turn and retry is due, the history and prompt tag, the
retry policy (``harness.retry``), sub-agent sessions and ``waits_for``, the client of each
attempt's wire API (embeddings beside chat), and every record. Here each session is a
greenlet that does what the flow says (sleep, send through ``harness.locust.transport``, whose
answers are classified by ``harness.client.exchange``, join other sessions' greenlets). A
root session's first turn is sent at its planned ``offset_s`` from the shared start instant,
whatever is in flight. Locust's closed-loop wait times are never used: a session is a
greenlet held by the worker's Locust user. Bounded in time (new sessions only before
``duration_s``, everything killed at ``duration_s + drain_s``) and in sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import gevent
import gevent.event
import gevent.pool
import numpy as np

from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_config import EngineConfig, LiveStats
from harness.locust.transport import GeventClient
from harness.session_flow.flow import SessionFlow
from harness.session_flow.steps import Send, Senders, Session, WaitFor, sleep_slice_s


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

    def run(self, plan: Iterable[PlannedRequest]) -> float:
        """Send the shard; return the run-clock time the engine finished."""
        roots = self._flow.add(plan)
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
            self._flow.finish(self._clock())
        return self._clock()

    def _schedule(self, roots: list[Session[gevent.Greenlet]]) -> None:
        config, flow = self._config, self._flow
        for index, session in enumerate(roots):
            offset_s = session.turns[0].offset_s
            if offset_s >= config.duration_s or not self._sleep_until(offset_s):
                for rest in roots[index:]:
                    flow.skip(rest, "run ended before this session started")
                return
            flow.start_root(session)

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
