"""One run from start to finish: plan → engine → records (+ ledger) → summary → reports.

The only place that wires the stages together; each stage stays usable alone. Starts the
embedded mock when the scenario has no target URL, sizes the connection pool from the plan,
sends the plan, fetches the upstream's ledger (one named, or the target's own when its
answers said it is a tokenstorm mock or proxy: a foreign server is never asked), and
rebuilds summary and reports from the files it wrote (the same path ``tokenstorm report``
takes), so what the console shows is what the files say.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import numpy as np

from harness.client.http import HttpClient
from harness.client.pool import plan_pool
from harness.client.tokenizer import TokenizerError, load_tokenizer
from harness.contract.records import (
    AttemptRecord,
    JsonlAppender,
    PlannedRequest,
    write_jsonl,
)
from harness.engine import Engine
from harness.engine_config import EngineConfig, LiveStats
from harness.progress import show_progress
from harness.run_dir import RunPaths, redact_url, started_at, versions, write_manifest
from harness.upstream_files import announce_start, guess_ledger, read_back
from mock_models.embedded import EmbeddedMock
from workloads.planner import plan_run
from workloads.scenario import Scenario

STOP_GRACE_S = 5.0
#: How often an abort check reads the live counters, and how long in-flight attempts may
#: finish once it fires.
ABORT_EVERY_S = 1.0
ABORT_GRACE_S = 1.0

#: Reads the live counters and the run clock; returns why to stop (a JSON object) or None.
AbortCheck = Callable[[LiveStats, float], "dict[str, Any] | None"]


@runtime_checkable
class RecordObserver(Protocol):
    """An abort check that also reads each attempt record as it is written (live latencies)."""

    def observe(self, record: AttemptRecord) -> None: ...


class RunError(RuntimeError):
    """A run could not start or finish; ``str()`` is one line for the user."""


@dataclass(frozen=True, slots=True)
class RunResult:
    paths: RunPaths
    summary: dict[str, Any]
    interrupted: bool
    #: Why abort-on-fail stopped the run (None when it ran its course).
    aborted: dict[str, Any] | None = None


def _check_reachable(url: str, timeout_s: float) -> None:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RunError(
            f"target {redact_url(url)} is unreachable ({reason}); start it, fix --target, "
            "or pass --no-preflight to record the failures anyway"
        ) from None


@dataclass(frozen=True, slots=True)
class _Upstream:
    api_url: str
    #: The ledger named by ``--ledger``, ``target.ledger`` or the embedded mock; None when
    #: only a tokenstorm target's own answers can say where one is.
    ledger_url: str | None
    embedded: bool


@contextlib.contextmanager
def _upstream(scenario: Scenario, ledger_url: str | None) -> Iterator[_Upstream]:
    """Where requests go and where the ledger is; starts the embedded mock when no URL."""
    url = scenario.target.url
    if url is not None:
        yield _Upstream(url, ledger_url or scenario.target.ledger, False)
        return
    settings = scenario.mock
    if settings.seed is None:
        settings = settings.model_copy(update={"seed": scenario.seed})
    with EmbeddedMock(settings) as mock:
        yield _Upstream(mock.api_url, mock.ledger_url, True)


def _read_back(
    paths: RunPaths, manifest: dict[str, Any], upstream: _Upstream, client: HttpClient
) -> None:
    """Fetch ledger and fault profile from a ledger that was named, or from the target when
    its answers said it is a tokenstorm mock or proxy; ask no foreign server for them."""
    manifest["upstream_server"] = "mock" if upstream.embedded else client.tokenstorm_server
    if upstream.ledger_url is not None:
        origin = "embedded" if upstream.embedded else "option"
        read_back(
            paths, manifest, upstream.ledger_url, manifest["run_id"], origin=origin, guessed=False
        )
    elif client.tokenstorm_server is not None:
        guess = guess_ledger(upstream.api_url)
        read_back(paths, manifest, guess, manifest["run_id"], origin="target", guessed=True)


def _open_files_limit() -> int | None:
    """The process's soft limit on open files (``ulimit -n``), None where unknown."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _freeze_heap() -> bool:
    """Move every object alive now (the plan above all) out of the collector's reach for the
    run: a full collection walks the whole heap, and over a large plan that stalls the event
    loop for hundreds of milliseconds (600 ms for a 600,000-request plan), which would show
    as schedule lag. False when garbage collection is off anyway."""
    if not gc.isenabled():
        return False
    gc.collect()
    gc.freeze()
    return True


def _event_loop_runner() -> Callable[[Any], Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run
    return lambda coro: asyncio.Runner(loop_factory=uvloop.new_event_loop).run(coro)


async def _watch_abort(
    engine: Engine, check: AbortCheck, clock_s: Callable[[], float], found: list[dict[str, Any]]
) -> None:
    while not engine.stop_requested.is_set():
        await asyncio.sleep(ABORT_EVERY_S)
        reason = check(engine.stats, clock_s())
        if reason is not None:
            found.append(reason)
            engine.request_stop(ABORT_GRACE_S)
            return


async def _drive(
    engine: Engine,
    plan: list[PlannedRequest],
    scenario: Scenario,
    progress: bool,
    abort_check: AbortCheck | None = None,
    aborted: list[dict[str, Any]] | None = None,
) -> float:
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        engine.request_stop(STOP_GRACE_S if interrupts == 1 else 0.0)

    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        loop.add_signal_handler(signal.SIGTERM, on_interrupt)
    start_s = time.perf_counter()
    display = (
        asyncio.create_task(
            show_progress(
                engine.stats, lambda: time.perf_counter() - start_s, scenario.duration, len(plan)
            )
        )
        if progress
        else None
    )
    watcher = (
        asyncio.create_task(
            _watch_abort(
                engine,
                abort_check,
                lambda: time.perf_counter() - start_s,
                aborted if aborted is not None else [],
            )
        )
        if abort_check is not None
        else None
    )
    try:
        return await engine.run(plan)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if display is not None:
            display.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await display
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)


def execute(
    scenario: Scenario,
    out_dir: Path,
    run_id: str,
    *,
    ledger_url: str | None = None,
    preflight: bool = True,
    progress: bool = True,
    abort_check: AbortCheck | None = None,
    reports: bool = True,
    warn: Callable[[str], None] | None = None,
) -> RunResult:
    """Plan, send, record, summarise and report (unless ``reports`` is false: summary.json
    alone) one run into ``out_dir/run_id``.

    ``abort_check`` is asked every ``ABORT_EVERY_S`` while the run goes; when it returns a
    reason the run stops early, the reason goes into the manifest as ``aborted``. When it is
    also a ``RecordObserver``, it sees every attempt record right after it is written.
    ``warn`` hears, before anything is sent, what may spoil the run (a pool too small).
    """
    try:
        tokenizer = load_tokenizer(scenario.target.tokenizer)
    except TokenizerError as exc:
        raise RunError(str(exc)) from None
    paths = RunPaths(out_dir / run_id)
    try:
        paths.root.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise RunError(f"{paths.root} already exists: choose another --run-id") from None
    except OSError as exc:
        raise RunError(f"cannot create {paths.root}: {exc.strerror}") from None
    planned = plan_run(scenario)
    plan = planned.plan
    if planned.duration_s != scenario.duration:  # [arrival] requests ended the plan
        scenario = scenario.model_copy(update={"duration": planned.duration_s})
    write_jsonl(paths.plan, plan)
    api_key = os.environ.get(scenario.target.key_env)
    with _upstream(scenario, ledger_url) as upstream:
        url, embedded = upstream.api_url, upstream.embedded
        if preflight and not embedded:
            _check_reachable(url, scenario.target.connect_timeout)
        manifest: dict[str, Any] = {
            "run_id": run_id,
            "name": scenario.name,
            "seed": scenario.seed,
            "scenario": scenario.model_dump(mode="json"),
            "target_url": redact_url(url),
            "embedded_mock": embedded,
            "ledger_url": redact_url(upstream.ledger_url),
            "api": scenario.target.api,
            "tokenizer": tokenizer.name,
            "api_key_env": scenario.target.key_env,
            "api_key_present": api_key is not None,
            "engine": "asyncio",
            "versions": versions(),
            "tokenstorm_version": versions().get("tokenstorm"),
            "started_at": started_at(),
        }
        pool = plan_pool(
            plan, scenario.target.timeout, scenario.target.max_connections, _open_files_limit()
        )
        if pool.warning is not None:
            manifest["pool_warning"] = pool.warning
            if warn is not None:
                warn(pool.warning)
        client = HttpClient(
            url,
            scenario.target.api,
            api_key=api_key,
            connect_timeout_s=scenario.target.connect_timeout,
            max_connections=pool.max_connections,
            cache_control=scenario.target.cache_control,
        )
        config = EngineConfig(
            run_id=run_id,
            # After a plan cut by [arrival] requests, later turns may go on for a drain.
            duration_s=scenario.duration + (scenario.drain if planned.cut_by_requests else 0.0),
            drain_s=scenario.drain,
            timeout_s=scenario.target.timeout,
            first_token_timeout_s=scenario.target.first_token_timeout,
            retry=scenario.client.retry,
            tag_prompt=scenario.target.tag_prompt,
            tokenizer=tokenizer,
        )
        appender = JsonlAppender(paths.records)
        sink = appender.append
        if isinstance(abort_check, RecordObserver):
            observe = abort_check.observe

            def sink(record: AttemptRecord) -> None:
                appender.append(record)
                observe(record)

        engine = Engine(
            config,
            client,
            sink,
            now=time.perf_counter,
            rng=np.random.default_rng([scenario.seed, 0x7E7]),
            stats=LiveStats(),
        )
        manifest["wall_clock_anchor_unix_s"] = time.time()
        write_manifest(paths, manifest)
        cpu_start_s, wall_start_s = time.process_time(), time.perf_counter()
        aborted: list[dict[str, Any]] = []

        announced: list[bool] = []

        async def main() -> float:
            # A named ledger's upstream (a tokenstorm mock or proxy) learns the run's start.
            announcer = (
                None
                if upstream.ledger_url is None
                else asyncio.create_task(
                    announce_start(upstream.ledger_url, run_id, engine.started, engine.clock_s)
                )
            )
            try:
                return await _drive(engine, plan, scenario, progress, abort_check, aborted)
            finally:
                await client.close()
                if announcer is not None:
                    if not announcer.done():
                        announcer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        announced.append(await announcer)

        frozen = _freeze_heap()
        try:
            _event_loop_runner()(main())
        finally:
            if frozen:
                gc.unfreeze()
            appender.close()
        manifest["client_cpu_s"] = round(time.process_time() - cpu_start_s, 3)
        manifest["wall_s"] = round(time.perf_counter() - wall_start_s, 3)
        manifest["interrupted"] = engine.stop_requested.is_set() and not aborted
        manifest["run_start_announced"] = any(announced)
        if aborted:
            manifest["aborted"] = aborted[0]
        manifest["finished_at"] = started_at(datetime.now(UTC))
        manifest["pool"] = {
            **pool.to_json(),
            "peak_in_flight": client.peak_in_flight,
            "attempts_waited_for_pool": client.pool_waits,
        }
        _read_back(paths, manifest, upstream, client)
        write_manifest(paths, manifest)
    from harness.rebuild import rebuild_run  # not needed before the first request

    summary = rebuild_run(paths, reports=reports)
    return RunResult(
        paths=paths,
        summary=summary,
        interrupted=bool(manifest["interrupted"]),
        aborted=aborted[0] if aborted else None,
    )
