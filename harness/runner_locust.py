"""The run's sending stage on Locust (``--engine locust``): the plan's units (drawn lazily, as
the master ships them), the engine settings and the record sink in; the manifest's engine
facts (each worker's host, clock offset, requests dealt to it and CPU) out. Everything
before (plan counting, mock, manifest) and after (ledger, summary, reports) is
``harness.runner``'s, unchanged."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from harness.client.http import HttpClient
from harness.client.pool import PoolPlan
from harness.contract.records import AttemptRecord, PlannedRequest
from harness.engine_config import EngineConfig, LiveStats
from harness.locust.run import LocustOptions, MasterClock, run_locust
from harness.progress import status_line
from harness.run_loop import AbortCheck
from harness.upstream_files import RunError, announce_start_now
from harness.watch.during import DuringRun
from workloads.scenario import Scenario

#: What the report says of Locust's own statistics.
FIGURES_NOTE = (
    "figures come from tokenstorm's attempt records; Locust's web UI and statistics "
    "(response times rounded into buckets) are a live view only"
)


def _show(duration_s: float | None, planned: int | None) -> Callable[[LiveStats, float], None]:
    """The progress line (``harness.progress``) on stderr, from the master's summed counters."""
    interactive = sys.stderr.isatty()
    last = [0.0]

    def show(stats: LiveStats, clock_s: float) -> None:
        line = status_line(stats, clock_s, duration_s, planned)
        if interactive:
            sys.stderr.write("\r\x1b[2K" + line)
        elif clock_s - last[0] >= 5.0:
            last[0] = clock_s
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return show


def connection_of(scenario: Scenario, url: str, api_key: str | None) -> dict[str, Any]:
    """What each worker needs to build its clients and engine (it holds no scenario)."""
    return {
        "url": url,
        "api": scenario.target.api,
        "api_key": api_key,
        "connect_timeout_s": scenario.target.connect_timeout,
        "cache_control": scenario.target.cache_control,
        "tokenizer": scenario.target.tokenizer,
        "seed": scenario.seed,
    }


def send_on_locust(
    units: Iterator[list[PlannedRequest]],
    config: EngineConfig,
    connection: dict[str, Any],
    sink: Callable[[AttemptRecord], None],
    manifest: dict[str, Any],
    options: LocustOptions,
    pool: PoolPlan,
    client: HttpClient,
    abort_check: AbortCheck | None,
    progress: bool,
    phase: tuple[float | None, int | None],
    ledger_url: str | None,
    watching: Callable[[LiveStats, Callable[[], float]], DuringRun],
    halted: Callable[[], bool] | None = None,
) -> list[dict[str, Any]]:
    """Send the plan of ``units`` on Locust workers, fill ``manifest``; return abort reasons
    (if any).

    The live figures are the master's: the workers' counters it sums (with each batch of
    records, at least once a second), every record as it arrives (``sink``), and its clock
    from the shared start instant. ``watching`` makes ``--watch`` and ``--metrics-port``
    read them; the scraper runs beside the master on a thread of its own."""
    settings = {
        **connection,
        "run_id": config.run_id,
        "duration_s": config.duration_s,
        "drain_s": config.drain_s,
        "timeout_s": config.timeout_s,
        "first_token_timeout_s": config.first_token_timeout_s,
        "retry": config.retry.model_dump(mode="json"),
        "tag_prompt": config.tag_prompt,
        "max_connections": pool.max_connections,
        "ui": options.ui_port is not None,
    }
    aborted: list[dict[str, Any]] = []
    stats, clock = LiveStats(), MasterClock()
    side = watching(stats, clock.clock_s)
    cpu_start_s, wall_start_s = time.process_time(), time.perf_counter()
    try:
        with side.beside(clock.started):
            outcome = run_locust(
                units,
                settings,
                sink,
                stats,
                options,
                abort_check,
                aborted,
                _show(*phase) if progress else None,
                None
                if ledger_url is None
                else lambda clock_s: announce_start_now(ledger_url, config.run_id, clock_s),
                clock,
                halted,
            )
    except TimeoutError as exc:
        raise RunError(f"--engine locust: {exc}") from None
    finally:
        side.close()
    lost = outcome.lost
    workers = outcome.workers
    worker_cpu_s = sum(w["cpu_s"] or 0.0 for w in workers)
    manifest["engine"] = "locust"
    manifest["locust"] = {
        "workers": workers,
        "lost_workers": lost,
        "master_cpu_s": round(time.process_time() - cpu_start_s, 3),
        "figures": FIGURES_NOTE,
        "ui_port": options.ui_port,
    }
    if lost:
        manifest["invalid_reason"] = "; ".join(lost)
    # The busiest worker's share of its core is what the validity check compares.
    busiest = max((w["cpu_s"] or 0.0 for w in workers), default=0.0)
    manifest["client_cpu_s"] = round(busiest, 3)
    manifest["client_cpu_s_all_workers"] = round(worker_cpu_s, 3)
    manifest["wall_s"] = round(time.perf_counter() - wall_start_s, 3)
    manifest["interrupted"] = outcome.interrupted and not aborted and not (halted and halted())
    manifest["run_start_announced"] = outcome.announced
    if aborted:
        manifest["aborted"] = aborted[0]
    manifest["pool"] = {
        **pool.to_json(),
        "peak_in_flight": outcome.peak_in_flight,
        "attempts_waited_for_pool": outcome.pool_waits,
    }
    client.tokenstorm_server = outcome.server
    return aborted
