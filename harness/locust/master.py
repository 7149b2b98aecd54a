"""The Locust master, in the run's own process: waits for its workers, refuses one of another
tokenstorm version, hands each its shard, fixes the start instant, writes every record the
workers send (exactly once: each batch is written as it arrives), sums their live counters
for the progress display and abort-on-fail, and notices a worker that dies.

A worker that goes missing (its process ended, or Locust's heartbeats stopped) before its
``ts_done`` leaves requests with no record: each is recorded ``dropped`` naming the worker,
so planned = recorded still holds and the run's validity check marks it invalid. Ctrl-C (or
an abort) sends ``ts_stop`` to every worker and waits a bounded time for their last records.
The main thread drives gevent's hub by sleeping in short slices; nothing else is patched.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import orjson

from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest, from_dict
from harness.engine_config import LiveStats
from harness.locust import protocol
from harness.locust.shard import shard_plan
from harness.session_flow.records import unsent_record

#: After a stop, how long the master waits for workers' last records beyond the grace.
STOP_WAIT_S = 10.0


@dataclass(slots=True)
class _Node:
    client_id: str
    host: str = "?"
    index: int = -1
    shard: list[PlannedRequest] = field(default_factory=list)
    offset_s: float | None = None
    rtt_s: float | None = None
    ready: bool = False
    done: dict[str, Any] | None = None
    lost: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    records: int = 0

    def name(self) -> str:
        return f"worker {self.index} ({self.host})"


@dataclass(slots=True)
class LocustRun:
    """What the master saw: per-worker facts for the manifest, and how the run ended."""

    workers: list[dict[str, Any]]
    ended_s: float
    interrupted: bool
    lost: list[str]
    server: str | None
    pool_waits: int
    peak_in_flight: int
    announced: bool = False


class Master:
    def __init__(
        self,
        expect: int,
        bind_host: str,
        bind_port: int,
        sink: Callable[[AttemptRecord], None],
        stats: LiveStats,
    ) -> None:
        self.expect = expect
        self.env, self.runner = protocol.locust_master(bind_host, bind_port)
        self.sink = sink
        self.stats = stats
        self.nodes: dict[str, _Node] = {}
        self.refused: list[str] = []
        self.recorded: set[str] = set()
        #: Requests recorded ``dropped`` here for lost workers (their own counters lack them).
        self.dropped_here = 0
        self.stop_sent = False
        for kind, handler in (
            ("ts_hello", self._on_hello),
            ("ts_ping", self._on_ping),
            ("ts_ready", self._on_ready),
            ("ts_records", self._on_records),
            ("ts_done", self._on_done),
            ("ts_bad", self._on_bad),
        ):
            self.runner.register_message(kind, handler)

    def _send(self, kind: str, data: dict[str, Any], client_id: str) -> None:
        self.runner.send_message(kind, data, client_id=client_id)

    def _on_hello(self, environment: Any, msg: Any, **_: Any) -> None:
        theirs, mine = msg.data.get("version"), protocol.version()
        if theirs != mine:
            why = f"tokenstorm {theirs} on the worker, {mine} on the master: install the same"
            self.refused.append(f"{msg.data.get('host')}: {why}")
            self._send("ts_refuse", {"why": why}, msg.node_id)
            return
        if len(self.nodes) >= self.expect:
            self._send("ts_refuse", {"why": f"the run takes {self.expect} workers"}, msg.node_id)
            return
        self.nodes[msg.node_id] = _Node(msg.node_id, msg.data.get("host", "?"), len(self.nodes))

    def _on_bad(self, environment: Any, msg: Any, **_: Any) -> None:
        node = self.nodes.get(msg.node_id)
        if node is not None:
            node.lost = f"{node.name()} refused its shard: {msg.data['why']}"

    def _on_ping(self, environment: Any, msg: Any, **_: Any) -> None:
        self._send("ts_pong", {"t0": msg.data["t0"], "tm": time.time()}, msg.node_id)

    def _on_ready(self, environment: Any, msg: Any, **_: Any) -> None:
        node = self.nodes.get(msg.node_id)
        if node is not None:
            node.offset_s, node.rtt_s = msg.data["offset_s"], msg.data["rtt_s"]
            node.ready = True

    def _on_records(self, environment: Any, msg: Any, **_: Any) -> None:
        node = self.nodes.get(msg.node_id)
        if node is None or node.lost is not None:
            return
        for line in msg.data["lines"].splitlines():
            record = from_dict(AttemptRecord, orjson.loads(line))
            self.recorded.add(record.request_id)
            node.records += 1
            self.sink(record)
        node.stats = msg.data["stats"]
        self._sum_stats()

    def _on_done(self, environment: Any, msg: Any, **_: Any) -> None:
        node = self.nodes.get(msg.node_id)
        if node is not None:
            node.done = msg.data
            node.stats = msg.data["stats"]
            self._sum_stats()

    def _sum_stats(self) -> None:
        """The live counters: the workers' latest, summed, and the drops recorded here."""
        protocol.add_stats(self.stats, [n.stats for n in self.nodes.values()])
        self.stats.dropped += self.dropped_here

    def wait_for_workers(self, timeout_s: float, alive: Callable[[], str | None]) -> None:
        """Until ``expect`` workers said hello; ``TimeoutError`` (nothing sent) if not."""
        deadline_s = time.monotonic() + timeout_s
        while len(self.nodes) < self.expect:
            problem = alive()
            if problem is not None:
                raise TimeoutError(problem)
            if time.monotonic() > deadline_s:
                refused = f"; refused: {'; '.join(self.refused)}" if self.refused else ""
                raise TimeoutError(
                    f"{len(self.nodes)} of {self.expect} workers joined within {timeout_s:g} s"
                    f"{refused}: nothing was sent"
                )
            gevent.sleep(0.05)

    def hand_out(self, plan: list[PlannedRequest], settings: dict[str, Any]) -> None:
        shards = shard_plan(plan, len(self.nodes))
        for node, shard in zip(self.nodes.values(), shards, strict=True):
            node.shard = shard
            self._send(
                "ts_shard",
                {
                    "shard": protocol.encode_plan(shard),
                    "shard_hash": protocol.plan_hash(shard),
                    "settings": {**settings, "worker": node.index},
                },
                node.client_id,
            )

    def wait_ready(self, timeout_s: float) -> None:
        deadline_s = time.monotonic() + timeout_s
        while not all(n.ready for n in self.nodes.values()):
            bad = [n.lost for n in self.nodes.values() if n.lost is not None]
            if bad or time.monotonic() > deadline_s:
                raise TimeoutError(
                    "; ".join(bad) or f"workers not ready within {timeout_s:g} s: nothing sent"
                )
            gevent.sleep(0.05)

    def start(self, lead_s: float) -> float:
        """Fix the start instant ``lead_s`` from now (master wall clock); its perf reading."""
        start_wall_s = time.time() + lead_s
        for node in self.nodes.values():
            self._send("ts_start", {"start_wall_s": start_wall_s}, node.client_id)
        return time.perf_counter() + lead_s

    def stop_all(self, grace_s: float) -> None:
        self.stop_sent = True
        for node in self.nodes.values():
            if node.done is None and node.lost is None:
                self._send("ts_stop", {"grace_s": grace_s}, node.client_id)

    def check_lost(self, gone: Callable[[_Node], str | None], now_s: float) -> None:
        """Record as ``dropped`` every request a newly lost worker left without a record."""
        for node in self.nodes.values():
            if node.done is not None or node.lost is not None:
                continue
            client = self.runner.clients.get(node.client_id)
            why = gone(node)
            if why is None and (client is None or client.state == "missing"):
                why = "its Locust heartbeats stopped"
            if why is None:
                continue
            node.lost = f"{node.name()} lost mid-run: {why}"
            node.stats = {**node.stats, "in_flight": 0}  # what it had in flight is lost too
            for request in node.shard:
                if request.request_id not in self.recorded:
                    self.recorded.add(request.request_id)
                    self.dropped_here += 1
                    self.sink(unsent_record(request, Outcome.DROPPED, node.lost, now_s))
            self._sum_stats()

    def finished(self) -> bool:
        return all(n.done is not None or n.lost is not None for n in self.nodes.values())

    def quit(self) -> None:
        self.runner.quit()


def install_interrupt(on_interrupt: Callable[[], None]) -> Callable[[], None]:
    """Ctrl-C and SIGTERM call ``on_interrupt``; returns what puts the old handlers back."""
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, lambda *_: on_interrupt())

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    return restore
