"""``--engine locust``: a plan's units (drawn lazily) in, the records written through ``sink``
and what the master saw out. Starts N local workers (``tokenstorm worker`` processes on
loopback) or waits for K to join from elsewhere, then drives the master
(``harness.locust.master``) until every worker has finished or is lost, the hard deadline
passed, or a stop (Ctrl-C, abort-on-fail) came. While the run goes it ships the plan: every
``SHIP_EVERY_S``, each unit starting within the next ``AHEAD_S`` of the run clock.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gevent

from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_config import LiveStats
from harness.locust.master import LocustRun, Master
from harness.locust.protocol import serve_ui

#: Between the start being fixed and the first send: time for it to reach every worker.
START_LEAD_S = 1.0
ABORT_EVERY_S = 1.0
STOP_GRACE_S = 5.0
#: Beyond duration + drain, how long the master waits for workers' ends.
STOP_WAIT_EXTRA_S = 15.0
#: How far ahead of the run clock the plan is sent: a unit goes out about this long (at
#: least ``AHEAD_S - SHIP_EVERY_S``) before its first offset; the master and each worker hold
#: about this much of the plan, plus the sessions in flight.
AHEAD_S = 10.0
SHIP_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class LocustOptions:
    #: Local workers to start (None: wait for ``expect_workers`` to join).
    workers: int | None
    expect_workers: int | None = None
    bind_host: str = "127.0.0.1"
    bind_port: int = 0
    #: How long to wait for workers to join before giving up (nothing sent).
    join_timeout_s: float = 60.0
    ui_port: int | None = None


@dataclass(slots=True)
class MasterClock:
    """The run clock as the master reads it: seconds since the shared start instant, on this
    process's ``perf_counter`` (negative in the lead before it, 0.0 until it is fixed)."""

    start_s: float | None = None

    def clock_s(self) -> float:
        return 0.0 if self.start_s is None else time.perf_counter() - self.start_s

    def started(self) -> bool:
        """The start instant is fixed and has come."""
        return self.start_s is not None and time.perf_counter() >= self.start_s


def local_workers(value: str) -> int:
    """``--workers N`` or ``auto`` (one per core)."""
    if value == "auto":
        return max(1, os.cpu_count() or 1)
    count = int(value)
    if count < 1:
        raise ValueError("--workers must be at least 1 (or auto)")
    return count


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def install_interrupt(on_interrupt: Callable[[], None]) -> Callable[[], None]:
    """Ctrl-C and SIGTERM call ``on_interrupt``; returns what puts the old handlers back."""
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, lambda *_: on_interrupt())

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    return restore


def run_locust(
    units: Iterator[list[PlannedRequest]],
    settings: dict[str, Any],
    sink: Callable[[AttemptRecord], None],
    stats: LiveStats,
    options: LocustOptions,
    abort_check: Callable[[LiveStats, float], dict[str, Any] | None] | None = None,
    aborted: list[dict[str, Any]] | None = None,
    progress: Callable[[LiveStats, float], None] | None = None,
    announce: Callable[[float], bool] | None = None,
    clock: MasterClock | None = None,
    halted: Callable[[], bool] | None = None,
) -> LocustRun:
    """Send the plan of ``units`` on Locust workers; see the module docstring. ``TimeoutError``
    when the workers did not come (nothing was sent then). ``clock`` learns the start
    instant. Units are drawn only as they are shipped: after a stop, or once every worker is
    lost, the plan ends with the last unit drawn. Once ``halted`` says so (the disk refused a
    record), every worker is stopped as for a Ctrl-C."""
    expect = options.workers or options.expect_workers or 1
    port = options.bind_port or _free_port(options.bind_host)
    master = Master(expect, options.bind_host, port, sink, stats)
    stop_ui = None if options.ui_port is None else serve_ui(master.env, options.ui_port)
    procs: list[subprocess.Popen[bytes]] = []
    if options.workers is not None:
        command = [
            sys.executable,
            "-m",
            "harness.cli.main",
            "worker",
            "--master",
            f"{options.bind_host}:{port}",
        ]
        # Their own session: a terminal's Ctrl-C reaches the master only, which stops them.
        procs = [subprocess.Popen(command, start_new_session=True) for _ in range(options.workers)]
    by_client: dict[str, subprocess.Popen[bytes]] = {}
    interrupts: list[float] = []
    announced = False
    restore = install_interrupt(lambda: interrupts.append(time.perf_counter()))

    def dead_process() -> str | None:
        for proc in procs:
            if proc.poll() is not None and proc.returncode != 0 and not master.nodes:
                return f"a local worker exited with code {proc.returncode} before joining"
        return None

    try:
        master.wait_for_workers(options.join_timeout_s, dead_process)
        if options.workers is not None:
            by_pid = {proc.pid: proc for proc in procs}
            by_client = {
                n.client_id: by_pid[n.pid] for n in master.nodes.values() if n.pid in by_pid
            }
        ahead_s = AHEAD_S  # read here: a test may shorten it
        master.hand_out(units, settings, ahead_s)
        master.wait_ready(30.0)
        start_s = master.start(START_LEAD_S)
        if clock is not None:
            clock.start_s = start_s
        if announce is not None:  # at the start, the upstream learns what the run clock reads
            gevent.sleep(max(0.0, start_s - time.perf_counter()))
            announced = announce(time.perf_counter() - start_s)
        hard_end_s = settings["duration_s"] + settings["drain_s"] + STOP_WAIT_EXTRA_S
        stop_at_s: float | None = None
        next_check_s = ABORT_EVERY_S
        next_show_s = 0.5
        next_ship_s = 0.0
        while not master.finished():
            gevent.sleep(0.05)
            clock_s = time.perf_counter() - start_s
            if progress is not None and clock_s >= next_show_s:
                next_show_s = clock_s + 0.5
                progress(stats, clock_s)
            if (interrupts or (halted is not None and halted())) and not master.stop_sent:
                master.stop_all(STOP_GRACE_S)
                stop_at_s = clock_s + STOP_GRACE_S + 5.0
            if abort_check is not None and clock_s >= next_check_s and not master.stop_sent:
                next_check_s += ABORT_EVERY_S
                reason = abort_check(stats, clock_s)
                if reason is not None:
                    if aborted is not None:
                        aborted.append(reason)
                    master.stop_all(1.0)
                    stop_at_s = clock_s + 6.0

            def gone(node: Any) -> str | None:
                proc = by_client.get(node.client_id)
                if proc is not None and proc.poll() is not None:
                    return f"its process ended with code {proc.returncode}"
                return None

            master.check_lost(gone, round(clock_s, 6))
            if clock_s >= next_ship_s:  # after the check: nothing more for a lost worker
                next_ship_s = clock_s + SHIP_EVERY_S
                master.ship(clock_s + ahead_s)
            if clock_s > hard_end_s or (stop_at_s is not None and clock_s > stop_at_s):
                master.check_lost(lambda node: "it sent no end by the run's deadline", clock_s)
                break
        master.close_plan()
        ended_s = time.perf_counter() - start_s
    finally:
        restore()
        master.stop_all(0.0)
        gevent.sleep(0.2)
        master.quit()
        if stop_ui is not None:
            stop_ui()
        for proc in procs:
            try:
                proc.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)
    nodes = list(master.nodes.values())
    done = [n.done for n in nodes if n.done is not None]
    return LocustRun(
        workers=[
            {
                "index": n.index,
                "host": n.host,
                "clock_offset_s": n.offset_s,
                "clock_rtt_s": n.rtt_s,
                "requests": n.assigned,
                "records": n.records,
                "cpu_s": None if n.done is None else round(float(n.done["cpu_s"]), 3),
                "schedule_lag_ms": None if n.done is None else n.done.get("schedule_lag_ms"),
                "lost": n.lost,
            }
            for n in nodes
        ],
        ended_s=ended_s,
        interrupted=bool(interrupts),
        lost=[n.lost for n in nodes if n.lost is not None],
        server=next((d["server"] for d in done if d.get("server")), None),
        pool_waits=sum(int(d.get("pool_waits", 0)) for d in done),
        peak_in_flight=max((int(d.get("peak_in_flight", 0)) for d in done), default=0),
        announced=announced,
    )
