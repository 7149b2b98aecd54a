"""A Locust worker: connects to the master over Locust's own ZeroMQ channel, takes the plan
dealt to it window by window, measures its clock offset to the master, sends what it was dealt
open loop from the shared start instant and streams its records back in batches (Locust
custom messages).

Messages (``harness.locust.protocol`` names them): ``ts_hello`` (version, host, pid) →
``ts_setup`` (the engine settings and the first window: plan lines, their hash, whether it is
the last) → ``ts_ping`` / ``ts_pong`` (clock offset: master minus worker wall clock, from the
round trip with the smallest delay) → ``ts_ready`` → ``ts_start`` (the start instant, master
wall clock) → ``ts_window`` (the next units, ahead of their offsets, until one says it is the
last) beside ``ts_records`` batches, and ``ts_done``. A window whose lines this worker reads
and writes back with another hash (another plan format) is refused (``ts_bad``) and the worker
ends. ``ts_refuse`` ends the worker with the master's one-line reason; ``ts_stop`` stops
scheduling (in-flight attempts get ``grace_s``).
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import time
from typing import Any

import gevent
import gevent.event
import gevent.queue
import numpy as np

from harness.client.tokenizer import load_tokenizer
from harness.contract.apis import SIDE_APIS
from harness.contract.records import AttemptRecord, PlannedRequest, to_json_line
from harness.contract.target import RetryPolicy
from harness.engine_config import EngineConfig, LiveStats
from harness.locust import protocol
from harness.locust.sessions import GeventEngine
from harness.locust.transport import GeventClient
from harness.run_loop import freeze_heap
from harness.session_flow.steps import Senders

#: How long a worker waits for its shard, then for the start, before giving up.
WAIT_S = 600.0
_FLUSH_EVERY_S = 0.2
_PINGS = 5


class _Worker:
    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.host = socket.gethostname()
        self.finished = gevent.event.Event()
        self.exit_code = 0
        self.started = False
        self._pongs: gevent.queue.Queue[dict[str, float]] = gevent.queue.Queue()
        self._offset_s = 0.0
        self._engine: GeventEngine | None = None
        self._settings: dict[str, Any] = {}
        #: Windows that came before the engine exists (the plan's first, before the start).
        self._pending: list[list[PlannedRequest]] = []
        self._plan_ended = False
        self._dealt = 0
        self._buffer: list[bytes] = []
        self._records = 0
        self._lags = protocol.LagSample()
        self._stats = LiveStats()

    def send(self, kind: str, data: dict[str, Any]) -> None:
        self.runner.send_message(kind, data)

    def on_refuse(self, environment: Any, msg: Any, **_: Any) -> None:
        sys.stderr.write(f"tokenstorm worker: refused by the master: {msg.data['why']}\n")
        self.exit_code = 2
        self.finished.set()

    def on_pong(self, environment: Any, msg: Any, **_: Any) -> None:
        self._pongs.put({**msg.data, "t1": time.time()})

    def _window(self, data: dict[str, Any]) -> bool:
        """Take a window in (the engine's, or held until it exists); False if refused."""
        requests = protocol.decode_plan(data["lines"])
        mine = protocol.plan_hash(requests)
        if mine != data["hash"]:
            why = f"plan hash differs: worker {mine}, master {data['hash']} (versions differ)"
            self.send("ts_bad", {"why": why})
            if self._engine is not None:
                self._engine.request_stop(0.0)
            self.exit_code = 2
            self.finished.set()
            return False
        self._dealt += len(requests)
        engine = self._engine
        if engine is None:
            self._pending.append(requests)
            self._plan_ended = self._plan_ended or bool(data["last"])
        else:
            if requests:
                engine.add(requests)
            if data["last"]:
                engine.end_of_plan()
        return True

    def on_window(self, environment: Any, msg: Any, **_: Any) -> None:
        if not self.finished.is_set():
            self._window(msg.data)

    def on_setup(self, environment: Any, msg: Any, **_: Any) -> None:
        self._settings = msg.data["settings"]
        if not self._window(msg.data):
            return
        best: tuple[float, float] | None = None
        for _ping in range(_PINGS):
            self.send("ts_ping", {"t0": time.time()})
            try:
                pong = self._pongs.get(timeout=5.0)
            except gevent.queue.Empty:
                continue
            rtt_s = pong["t1"] - pong["t0"]
            offset_s = pong["tm"] - (pong["t0"] + pong["t1"]) / 2
            if best is None or rtt_s < best[0]:
                best = (rtt_s, offset_s)
        rtt_s, self._offset_s = best if best is not None else (float("nan"), 0.0)
        self.send(
            "ts_ready",
            {
                "offset_s": self._offset_s,
                "rtt_s": rtt_s,
                "host": self.host,
                "requests": self._dealt,
            },
        )

    def on_start(self, environment: Any, msg: Any, **_: Any) -> None:
        self.started = True
        start_wall_s = float(msg.data["start_wall_s"]) - self._offset_s
        start_s = time.perf_counter() + (start_wall_s - time.time())
        gevent.spawn(self._run, start_s)

    def on_stop(self, environment: Any, msg: Any, **_: Any) -> None:
        if self._engine is not None:
            self._engine.request_stop(float(msg.data.get("grace_s", 5.0)))

    def _sink(self, record: AttemptRecord) -> None:
        self._buffer.append(to_json_line(record))
        self._records += 1
        if record.sent_s is not None:
            self._lags.add(record.sent_s - record.scheduled_s)
        if self._settings.get("ui") and record.sent_s is not None and record.done_s is not None:
            self._to_locust_stats(record)

    def _to_locust_stats(self, record: AttemptRecord) -> None:
        """Feed Locust's own statistics (the web UI's live view): each attempt's end to end
        time, and its time to first token as a second row."""
        fire = self.runner.environment.events.request.fire
        failed = None if record.outcome == "ok" else RuntimeError(record.outcome)
        name = record.model or "attempt"
        assert record.sent_s is not None and record.done_s is not None
        fire(
            request_type=record.api or "POST",
            name=f"{name} (E2E)",
            response_time=(record.done_s - record.sent_s) * 1000.0,
            response_length=record.completion_tokens or 0,
            exception=failed,
            context={},
        )
        if record.first_token_s is not None:
            fire(
                request_type=record.api or "POST",
                name=f"{name} (TTFT)",
                response_time=(record.first_token_s - record.sent_s) * 1000.0,
                response_length=0,
                exception=None,
                context={},
            )

    def _flush(self) -> None:
        if self._buffer:
            lines, self._buffer = b"".join(self._buffer), []
            self.send("ts_records", {"lines": lines, "stats": protocol.stats_json(self._stats)})

    def _flusher(self) -> None:
        quiet_s = 0.0
        while True:
            gevent.sleep(_FLUSH_EVERY_S)
            quiet_s = 0.0 if self._buffer else quiet_s + _FLUSH_EVERY_S
            if quiet_s >= 1.0:  # nothing to send for a second: the live counters still go
                quiet_s = 0.0
                self.send("ts_records", {"lines": b"", "stats": protocol.stats_json(self._stats)})
            self._flush()

    def _run(self, start_s: float) -> None:
        settings = self._settings
        client = _client(settings, settings["api"], settings["cache_control"])
        # As the asyncio runner does: embeddings (the embed kind, rag's embed_query) go to
        # the same target through a client of their own; it connects at its first send.
        side = {api: _client(settings, api, "off") for api in SIDE_APIS}
        clients = Senders(client, side).all()
        config = EngineConfig(
            run_id=settings["run_id"],
            duration_s=settings["duration_s"],
            drain_s=settings["drain_s"],
            timeout_s=settings["timeout_s"],
            first_token_timeout_s=settings["first_token_timeout_s"],
            retry=RetryPolicy.model_validate(settings["retry"]),
            tag_prompt=settings["tag_prompt"],
            tokenizer=load_tokenizer(settings["tokenizer"]),
        )
        engine = GeventEngine(
            config,
            client,
            sink=self._sink,
            clock=lambda: time.perf_counter() - start_s,
            start_s=start_s,
            rng=np.random.default_rng([settings["seed"], 0x7E7, settings["worker"]]),
            stats=self._stats,
            senders=side,
        )
        for requests in self._pending:  # what came before the engine existed
            engine.add(requests)
        self._pending = []
        if self._plan_ended:
            engine.end_of_plan()
        self._engine = engine
        # As the asyncio runner does (harness.run_loop.freeze_heap): move the first window
        # and Locust's own heap out of the collector's reach, or a full collection stalls
        # the hub for tens of milliseconds, which shows as schedule lag.
        frozen = freeze_heap()
        cpu_start_s = time.process_time()
        flusher = gevent.spawn(self._flusher)
        try:
            delay_s = start_s - time.perf_counter()
            if delay_s > 0:
                gevent.sleep(delay_s)
            ended_s = engine.run()
        finally:
            flusher.kill()
            for each in clients:
                each.close()
            if frozen:
                gc.unfreeze()
        self._flush()
        self.send(
            "ts_done",
            {
                "records": self._records,
                "ended_s": ended_s,
                "stats": protocol.stats_json(self._stats),
                "cpu_s": time.process_time() - cpu_start_s,
                "schedule_lag_ms": self._lags.ms(),
                "server": next((c.tokenstorm_server for c in clients if c.tokenstorm_server), None),
                "pool_waits": client.pool_waits,
                "peak_in_flight": client.peak_in_flight,
            },
        )
        self.finished.set()


def _client(settings: dict[str, Any], api: str, cache_control: str) -> GeventClient:
    """A client of wire API ``api`` for the run's target, as the master's settings say."""
    return GeventClient(
        settings["url"],
        api,
        api_key=settings.get("api_key"),
        connect_timeout_s=settings["connect_timeout_s"],
        max_connections=settings["max_connections"],
        cache_control=cache_control,
    )


def run_worker(master_host: str, master_port: int, wait_s: float = WAIT_S) -> int:
    """Serve one run as a worker of the master at ``master_host:master_port``; exit code."""
    env, runner = protocol.locust_worker(master_host, master_port)
    worker = _Worker(runner)
    runner.register_message("ts_refuse", worker.on_refuse)
    runner.register_message("ts_pong", worker.on_pong)
    runner.register_message("ts_setup", worker.on_setup, concurrent=True)
    runner.register_message("ts_window", worker.on_window)
    runner.register_message("ts_start", worker.on_start)
    runner.register_message("ts_stop", worker.on_stop)
    hello = {"version": protocol.version(), "host": worker.host, "pid": os.getpid()}
    worker.send("ts_hello", hello)
    waited_s = 0.0
    while not worker.finished.wait(timeout=1.0):
        waited_s += 1.0
        heard_s = runner.last_heartbeat_timestamp
        if heard_s is not None and time.time() - heard_s > protocol.MASTER_SILENT_S:
            sys.stderr.write("tokenstorm worker: the master went silent; stopping\n")
            worker.exit_code = 3
            break
        if not worker.started and waited_s > wait_s:
            sys.stderr.write(f"tokenstorm worker: no run started within {wait_s:g} s\n")
            worker.exit_code = 3
            break
    gevent.sleep(0.5)  # let the last messages leave
    runner.quit()
    del env
    return worker.exit_code
