"""What watches a run while it goes, wired as one piece for the runner: the ``--watch``
scraper and the ``--metrics-port`` server, each optional.

``DuringRun`` starts the metrics server at once (so a dashboard sees the run from its first
request; ``OSError`` when the port is taken), counts records (``observe``), runs the scraper
while the engine sends (``during``: it waits for the run clock to start; ``beside``: the same
on a thread of its own, for the Locust master) with one last scrape after, and stops the
server (``close``). The live counters (``stats``) and the run clock are the sender's: the
asyncio engine's own, or on Locust the master's sum of its workers' counters and its clock
from the shared start instant.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path

from harness.contract.records import AttemptRecord
from harness.contract.terms import Price
from harness.cost import PriceBook, load_price_book
from harness.engine_config import LiveStats
from harness.upstream_files import RunError
from harness.watch.beside import WatchThread
from harness.watch.live import LiveFigures, LiveServer
from harness.watch.scrape import WATCH_FILE, Watcher, WatchSettings, final_scrape


class DuringRun:
    def __init__(
        self,
        run_dir: Path,
        stats: LiveStats,
        clock_s: Callable[[], float],
        *,
        watch: WatchSettings | None,
        metrics_port: int | None,
        metrics_host: str = "127.0.0.1",
        prices: PriceBook | None = None,
    ) -> None:
        self._path = run_dir / WATCH_FILE
        self._watcher = None if watch is None else Watcher(watch, self._path, clock_s)
        #: How long ``beside`` waits for its thread's last scrape (each has its timeout).
        self._join_timeout_s = 5.0 + (0.0 if watch is None else 2 * watch.timeout_s)
        self.figures = None if metrics_port is None else LiveFigures(stats, prices, clock_s)
        self.server = (
            None
            if self.figures is None or metrics_port is None
            else LiveServer(self.figures, metrics_port, metrics_host)
        )

    def observe(self, record: AttemptRecord) -> None:
        if self.figures is not None:
            self.figures.observe(record)

    @contextlib.asynccontextmanager
    async def during(self, started: asyncio.Event) -> AsyncIterator[None]:
        """Scrape while the block runs (from the run clock's start), once more after it."""
        watcher = self._watcher
        task = None if watcher is None else asyncio.create_task(watcher.run(started))
        try:
            yield
        finally:
            if task is not None and watcher is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if started.is_set():
                    await final_scrape(watcher, self._path)

    @contextlib.contextmanager
    def beside(self, started: Callable[[], bool]) -> Iterator[None]:
        """``during`` for a run not sent from an asyncio loop here (the Locust master): the
        scraper on a thread of its own (``WatchThread``) from when ``started()`` holds."""
        if self._watcher is None:
            yield
            return
        thread = WatchThread(self.during, started, self._join_timeout_s)
        thread.start()
        try:
            yield
        finally:
            thread.stop()
        if thread.error is not None:
            raise thread.error

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def during_run(
    run_dir: Path,
    stats: LiveStats,
    clock_s: Callable[[], float],
    prices: Mapping[str, Price],
    watch: WatchSettings | None,
    metrics_at: tuple[str, int] | None,
    mock_metrics: str | None,
) -> DuringRun:
    """The runner's ``DuringRun``: ``--watch mock`` resolved to ``mock_metrics`` (the embedded
    mock's /metrics), the price book loaded for the live cost; ``RunError`` in one line when
    either fails or the metrics port cannot be listened on."""
    host, port = metrics_at if metrics_at is not None else ("127.0.0.1", None)
    try:
        watch = None if watch is None else watch.resolved(mock_metrics)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    try:
        book = load_price_book(prices) if port is not None else None
        return DuringRun(
            run_dir,
            stats,
            clock_s,
            watch=watch,
            metrics_port=port,
            metrics_host=host,
            prices=book,
        )
    except ValueError as exc:
        raise RunError(f"scenario prices: {exc}") from None
    except OSError as exc:
        raise RunError(f"--metrics-port {host}:{port}: cannot listen ({exc.strerror})") from None
