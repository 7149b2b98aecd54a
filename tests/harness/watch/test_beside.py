"""The watcher on a thread of its own (the Locust master's ``--watch``): the watch starts when
the run clock has started, ends on ``stop`` whether or not it did, and an error of the watch
is not swallowed by the thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.engine_config import LiveStats
from harness.watch.beside import WatchThread
from harness.watch.during import DuringRun
from harness.watch.scrape import WatchSettings


class _Watch:
    """Stands for ``DuringRun.during``: notes when the run clock started, and how it ended."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.saw_start = threading.Event()
        self.ended: list[bool] = []

    @contextlib.asynccontextmanager
    async def during(self, started: asyncio.Event) -> AsyncIterator[None]:
        if self.fail:
            raise RuntimeError("the watch broke")

        async def note() -> None:
            await started.wait()
            self.saw_start.set()

        task = asyncio.create_task(note())
        try:
            yield
        finally:
            task.cancel()
            self.ended.append(started.is_set())


def test_the_watch_starts_with_the_run_clock_and_ends_on_stop() -> None:
    watch, clock_started = _Watch(), threading.Event()
    thread = WatchThread(watch.during, clock_started.is_set, join_timeout_s=5.0)
    thread.start()
    clock_started.set()
    assert watch.saw_start.wait(timeout=5.0)
    thread.stop()
    assert watch.ended == [True] and thread.error is None


def test_a_run_that_never_started_ends_the_watch_unstarted() -> None:
    watch = _Watch()
    thread = WatchThread(watch.during, lambda: False, join_timeout_s=5.0)
    thread.start()
    thread.stop()
    assert watch.ended == [False] and not watch.saw_start.is_set()


def test_an_error_of_the_watch_reaches_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = WatchSettings(urls=("http://127.0.0.1:9/metrics",), timeout_s=0.5)
    side = DuringRun(tmp_path, LiveStats(), lambda: 0.0, watch=settings, metrics_port=None)
    monkeypatch.setattr(side, "during", _Watch(fail=True).during)
    with pytest.raises(RuntimeError, match="the watch broke"), side.beside(lambda: True):
        pass
