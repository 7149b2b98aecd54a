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
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness.client.http import HttpClient
from harness.client.pool import plan_pool
from harness.client.tokenizer import TokenizerError, load_tokenizer
from harness.contract.apis import SIDE_APIS
from harness.contract.records import AttemptRecord
from harness.engine import Engine
from harness.engine_config import EngineConfig, LiveStats
from harness.plan_feed import LOCUST_CLOSED_LOOP, PlanFeed, check_space, open_loop_of, work_of
from harness.run_dir import RunPaths, redact_url, started_at, versions, write_manifest
from harness.run_loop import (
    ABORT_GRACE_S,
    AbortCheck,
    RecordObserver,
    drive,
    event_loop_runner,
    freeze_heap,
)
from harness.store.appender import RecordAppender
from harness.upstream_files import (
    RunError,
    announce_start,
    check_reachable,
    guess_ledger,
    read_back,
)
from harness.watch.during import DuringRun, during_run
from harness.watch.scrape import WatchSettings
from mock_models.embedded import EmbeddedMock
from workloads.closed_loop import CLOSED_LOOP
from workloads.scenario import Scenario


@dataclass(frozen=True, slots=True)
class RunResult:
    paths: RunPaths
    summary: dict[str, Any]
    interrupted: bool
    #: Why abort-on-fail stopped the run (None when it ran its course).
    aborted: dict[str, Any] | None = None


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
    # The mock keeps its ledger in a file, not in memory, so a day-long soak does not grow it.
    with (
        tempfile.TemporaryDirectory(prefix="tokenstorm-mock-") as folder,
        EmbeddedMock(settings, Path(folder) / "ledger.jsonl") as mock,
    ):
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
    # A large ledger's columns, read by its reports (DuckDB is imported only now: a run
    # does not carry it while it sends).
    from harness.store.ledger_copy import write_ledger_copy
    from harness.store.query import MEMORY_LIMIT

    write_ledger_copy(paths, MEMORY_LIMIT)


def _open_files_limit() -> int | None:
    """The process's soft limit on open files (``ulimit -n``), None where unknown."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


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
    locust: Any = None,
    watch: WatchSettings | None = None,
    metrics_at: tuple[str, int] | None = None,
) -> RunResult:
    """Plan, send, record, summarise and report (unless ``reports`` is false: summary.json
    alone) one run into ``out_dir/run_id``.

    ``abort_check`` is asked every ``ABORT_EVERY_S`` while the run goes; when it returns a
    reason the run stops early, the reason goes into the manifest as ``aborted``. When it is
    also a ``RecordObserver``, it sees every attempt record right after it is written.
    ``warn`` hears, before anything is sent, what may spoil the run (a pool too small).
    ``locust`` (``harness.locust.run.LocustOptions``) sends on Locust workers instead of the
    asyncio engine (``harness.runner_locust``).
    ``watch`` scrapes the system under test's metrics into watch.jsonl; ``metrics_at`` (host,
    port) serves the run's live figures in the Prometheus format (``harness.watch``).
    """
    try:
        tokenizer = load_tokenizer(scenario.target.tokenizer)
    except TokenizerError as exc:
        raise RunError(str(exc)) from None
    if locust is not None and scenario.arrival.process == CLOSED_LOOP:
        raise RunError(LOCUST_CLOSED_LOOP)
    paths = RunPaths(out_dir / run_id)
    try:
        paths.root.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise RunError(f"{paths.root} already exists: choose another --run-id") from None
    except OSError as exc:
        raise RunError(f"cannot create {paths.root}: {exc.strerror}") from None
    work = work_of(scenario, paths.plan)
    scenario = work.scenario
    check_space(paths, work.feed)
    locust_feed = open_loop_of(work) if locust is not None else None
    api_key = os.environ.get(scenario.target.key_env)
    with _upstream(scenario, ledger_url) as upstream:
        url, embedded = upstream.api_url, upstream.embedded
        if preflight and not embedded:
            check_reachable(url, scenario.target.connect_timeout)
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
        feed = work.feed
        pool = plan_pool(
            (),
            scenario.target.timeout,
            scenario.target.max_connections,
            _open_files_limit(),
            known_peak=feed.peak
            if isinstance(feed, PlanFeed)
            else (scenario.arrival.concurrency or 1),
            sampled=feed.peak_counted if isinstance(feed, PlanFeed) else None,
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
        # Embeddings (the embed kind, rag's embed_query) go to the same target's
        # /embeddings; the client opens no connection until the first is sent.
        side_clients = {
            api: HttpClient(
                url,
                api,
                api_key=api_key,
                connect_timeout_s=scenario.target.connect_timeout,
                max_connections=pool.max_connections,
            )
            for api in SIDE_APIS
        }
        config = EngineConfig(
            run_id=run_id,
            duration_s=work.engine_duration_s,
            drain_s=scenario.drain,
            timeout_s=scenario.target.timeout,
            first_token_timeout_s=scenario.target.first_token_timeout,
            retry=scenario.client.retry,
            tag_prompt=scenario.target.tag_prompt,
            tokenizer=tokenizer,
        )
        appender = RecordAppender(paths.records, time.perf_counter)
        observers: list[Callable[[AttemptRecord], None]] = []  # --watch, --metrics-port
        stop_now: list[Callable[[], None]] = []  # the asyncio engine's stop, once it exists
        ended_s = [0.0]  # when the last attempt ended (an open-ended closed loop's phase)
        observe = abort_check.observe if isinstance(abort_check, RecordObserver) else None

        def sink(record: AttemptRecord) -> None:
            if not appender.append(record):
                # The disk refused a write: stop cleanly; what was written stays.
                for stop in stop_now:
                    stop()
            if record.done_s is not None and record.done_s > ended_s[0]:
                ended_s[0] = record.done_s
            if observe is not None:
                observe(record)
            for also in observers:
                also(record)

        mock_metrics = url.rsplit("/", 1)[0] + "/metrics" if embedded else None

        def watching(stats: LiveStats, clock_s: Callable[[], float]) -> DuringRun:
            """--watch and --metrics-port on the sender's live counters and run clock."""
            side = during_run(
                paths.root, stats, clock_s, scenario.prices, watch, metrics_at, mock_metrics
            )
            observers.append(side.observe)
            return side

        if locust_feed is not None:
            from harness.runner_locust import connection_of, send_on_locust

            manifest["wall_clock_anchor_unix_s"] = time.time()
            write_manifest(paths, manifest)
            try:
                locust_aborted = send_on_locust(
                    locust_feed.units(),
                    config,
                    connection_of(scenario, url, api_key),
                    sink,
                    manifest,
                    locust,
                    pool,
                    client,
                    abort_check,
                    progress,
                    (None if work.open_ended else scenario.duration, work.planned),
                    upstream.ledger_url,
                    watching,
                    lambda: appender.failure is not None,  # the disk refused a record
                )
            finally:
                appender.close()
                locust_feed.close()
                manifest["planned_requests"] = locust_feed.written
            if appender.failure is not None:
                manifest["store_error"] = appender.failure
                if warn is not None:
                    warn(appender.failure)
            manifest["finished_at"] = started_at(datetime.now(UTC))
            _read_back(paths, manifest, upstream, client)
            write_manifest(paths, manifest)
            from harness.rebuild import rebuild_run

            return RunResult(
                paths=paths,
                summary=rebuild_run(paths, reports=reports),
                interrupted=bool(manifest["interrupted"]),
                aborted=locust_aborted[0] if locust_aborted else None,
            )
        engine = Engine(
            config,
            client,
            sink,
            now=time.perf_counter,
            rng=np.random.default_rng([scenario.seed, 0x7E7]),
            stats=LiveStats(),
            senders=side_clients,
        )
        side = watching(engine.stats, engine.clock_s)
        stop_now.append(lambda: engine.request_stop(ABORT_GRACE_S))
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
                async with side.during(engine.started):
                    return await drive(
                        engine,
                        work.send,
                        (None if work.open_ended else scenario.duration, work.planned),
                        progress,
                        abort_check,
                        aborted,
                    )
            finally:
                for each in (client, *side_clients.values()):
                    await each.close()
                if announcer is not None:
                    if not announcer.done():
                        announcer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        announced.append(await announcer)

        frozen = freeze_heap()
        try:
            event_loop_runner()(main())
        finally:
            if frozen:
                gc.unfreeze()
            side.close()
            appender.close()
            feed.close()
            manifest["planned_requests"] = feed.written
        if work.open_ended:
            scenario = scenario.model_copy(update={"duration": max(ended_s[0], 1e-6)})
            manifest["scenario"] = scenario.model_dump(mode="json")
        manifest["client_cpu_s"] = round(time.process_time() - cpu_start_s, 3)
        manifest["wall_s"] = round(time.perf_counter() - wall_start_s, 3)
        manifest["interrupted"] = (
            engine.stop_requested.is_set() and not aborted and appender.failure is None
        )
        manifest["run_start_announced"] = any(announced)
        if appender.failure is not None:
            manifest["store_error"] = appender.failure
            if warn is not None:
                warn(appender.failure)
        if aborted:
            manifest["aborted"] = aborted[0]
        manifest["finished_at"] = started_at(datetime.now(UTC))
        manifest["pool"] = {
            **pool.to_json(),
            "peak_in_flight": client.peak_in_flight,
            "attempts_waited_for_pool": client.pool_waits,
        }
        # An embed-only plan hears the server's name on its embeddings client alone.
        for each in side_clients.values():
            client.tokenstorm_server = client.tokenstorm_server or each.tokenstorm_server
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
