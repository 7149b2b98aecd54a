"""The Locust master, in the run's own process: waits for its workers, refuses one of another
tokenstorm version, deals the streamed plan to them in windows (``harness.locust.deal``),
fixes the start instant, writes every record the workers send (exactly once: each batch is
written as it arrives), sums their live counters for the progress display and abort-on-fail,
and notices a worker that dies.

The plan is drawn as the run goes: ``ship(until_s)`` deals every unit starting before
``until_s`` and sends each worker its part, with its hash, as one ``ts_window`` message. The
master holds only what it has sent and not yet seen recorded (the window ahead, and the
sessions in flight): each request is let go at its first record.

A worker that goes missing (its process ended, Locust's heartbeats stopped, or it refused a
window) before its ``ts_done`` leaves requests with no record: each one dealt to it is
recorded ``dropped`` naming the worker, so planned = recorded still holds and the run's
validity check marks it invalid; later windows are dealt to the workers still alive. Ctrl-C
(or an abort) sends ``ts_stop`` to every worker, draws no more of the plan, and waits a
bounded time for their last records. The main thread drives gevent's hub by sleeping in short
slices; nothing else is patched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import orjson

from harness.contract.outcomes import Outcome
from harness.contract.records import AttemptRecord, PlannedRequest, from_dict
from harness.engine_config import LiveStats
from harness.locust import protocol
from harness.locust.deal import Dealer, PlanWindows, Unit
from harness.session_flow.records import unsent_record

#: After a stop, how long the master waits for workers' last records beyond the grace.
STOP_WAIT_S = 10.0


@dataclass(slots=True)
class _Node:
    client_id: str
    host: str = "?"
    index: int = -1
    #: Its process id on its host (a local worker's process is matched by it).
    pid: int | None = None
    #: Requests dealt to it (its share of the plan so far).
    assigned: int = 0
    #: Requests sent to it and not yet recorded, by id: what is dropped if it is lost.
    outstanding: dict[str, PlannedRequest] = field(default_factory=dict)
    #: It has been told that no more windows come.
    told_last: bool = False
    offset_s: float | None = None
    rtt_s: float | None = None
    ready: bool = False
    done: dict[str, Any] | None = None
    lost: str | None = None
    #: Why it refused a window (its reading hashes differently), if it did.
    refused: str | None = None
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
        self.windows: PlanWindows | None = None
        self.dealer: Dealer | None = None
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
        node = _Node(msg.node_id, msg.data.get("host", "?"), len(self.nodes))
        node.pid = msg.data.get("pid")
        self.nodes[msg.node_id] = node

    def _on_bad(self, environment: Any, msg: Any, **_: Any) -> None:
        node = self.nodes.get(msg.node_id)
        if node is not None:
            node.refused = f"it refused a window of the plan: {msg.data['why']}"

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
            node.outstanding.pop(record.request_id, None)
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

    def hand_out(self, units: Iterator[Unit], settings: dict[str, Any], until_s: float) -> None:
        """Set every worker up (``ts_setup``: the engine settings and the plan's first
        window, every unit starting before run-clock ``until_s``)."""
        self.windows = PlanWindows(units, float(settings["duration_s"]))
        self.dealer = Dealer(len(self.nodes))
        parts = self._deal(until_s)
        for node in self.nodes.values():
            window = self._window(node, parts[node.index])
            self._send(
                "ts_setup",
                {**window, "settings": {**settings, "worker": node.index}},
                node.client_id,
            )

    def ship(self, until_s: float) -> None:
        """Send each worker alive its units starting before ``until_s`` (``ts_window``),
        and, once the plan is all sent, that no more come. Nothing after a stop."""
        if self.stop_sent or self.windows is None:
            return
        parts = self._deal(until_s)
        for node in self.nodes.values():
            if node.lost is None and (parts[node.index] or not node.told_last):
                window = self._window(node, parts[node.index])
                if window["lines"] or window["last"]:
                    self._send("ts_window", window, node.client_id)

    def _deal(self, until_s: float) -> list[list[PlannedRequest]]:
        """The units due before ``until_s``, dealt: one list of requests per worker."""
        parts: list[list[PlannedRequest]] = [[] for _ in self.nodes]
        assert self.windows is not None and self.dealer is not None
        if not self.dealer.any_alive:  # every worker is lost: the plan ends with the last drawn
            return parts
        by_index = {node.index: node for node in self.nodes.values()}
        for unit in self.windows.take(until_s):
            index = self.dealer.deal(unit)
            node = by_index[index]
            node.assigned += len(unit)
            node.outstanding.update((request.request_id, request) for request in unit)
            parts[index].extend(unit)
        return parts

    def close_plan(self) -> None:
        """The run is over: the unit drawn to look ahead and never dealt (a stop, or every
        worker lost, came first) is recorded as never started, as the asyncio engine does:
        every request in the plan file has its record."""
        if self.windows is not None:
            for request in self.windows.held():
                why = "run ended before this session started"
                self.sink(unsent_record(request, Outcome.CANCELLED, why, request.offset_s))

    def _window(self, node: _Node, part: list[PlannedRequest]) -> dict[str, Any]:
        assert self.windows is not None
        last = self.windows.exhausted
        node.told_last = node.told_last or last
        lines = protocol.encode_plan(part)
        return {"lines": lines, "hash": protocol.lines_hash(lines), "last": last}

    def wait_ready(self, timeout_s: float) -> None:
        deadline_s = time.monotonic() + timeout_s
        while not all(n.ready for n in self.nodes.values()):
            bad = [f"{n.name()}: {n.refused}" for n in self.nodes.values() if n.refused]
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
            why = node.refused or gone(node)
            if why is None and (client is None or client.state == "missing"):
                why = "its Locust heartbeats stopped"
            if why is None:
                continue
            node.lost = f"{node.name()} lost mid-run: {why}"
            node.stats = {**node.stats, "in_flight": 0}  # what it had in flight is lost too
            if self.dealer is not None:
                self.dealer.retire(node.index)  # later windows go to the workers alive
            left, node.outstanding = node.outstanding, {}
            for request in left.values():
                self.dropped_here += 1
                self.sink(unsent_record(request, Outcome.DROPPED, node.lost, now_s))
            self._sum_stats()

    def finished(self) -> bool:
        return all(n.done is not None or n.lost is not None for n in self.nodes.values())

    def quit(self) -> None:
        self.runner.quit()
