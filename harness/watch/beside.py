"""The ``--watch`` scraper on a thread of its own, for a run that is not sent from an asyncio
loop in this process: the Locust master drives gevent's hub on the main thread (nothing is
monkey patched, so this is a real thread). The thread runs its own event loop and, on it,
exactly what the asyncio runner runs on its loop (``DuringRun.during``): scrapes from the run
clock's start, one last scrape after the run.

Every wait is bounded: the thread looks at ``started`` and at the stop every ``POLL_S``, and
``stop`` waits at most ``join_timeout_s`` for the last scrape (each scrape has its timeout).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

#: How often the thread looks whether the run clock started, or the run ended.
POLL_S = 0.05

During = Callable[[asyncio.Event], AbstractAsyncContextManager[None]]


class WatchThread:
    """``during`` (``DuringRun.during``) on its own thread and loop: from when ``started()``
    first holds until ``stop``."""

    def __init__(self, during: During, started: Callable[[], bool], join_timeout_s: float) -> None:
        self._during = during
        self._started = started
        self._join_timeout_s = join_timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="tokenstorm-watch", daemon=True)
        #: Why the thread ended early, when it did (a bug in the watcher: not hidden).
        self.error: Exception | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the watch (one last scrape if the run clock started), waiting for it at most
        ``join_timeout_s`` (the thread is a daemon: it never holds the process's exit)."""
        self._stop.set()
        self._thread.join(timeout=self._join_timeout_s)

    def _main(self) -> None:
        try:
            asyncio.run(self._watch())
        except Exception as exc:  # handed to the run's thread, which raises it
            self.error = exc

    async def _watch(self) -> None:
        started = asyncio.Event()
        async with self._during(started):
            while not self._stop.is_set():
                if not started.is_set() and self._started():
                    started.set()
                await asyncio.sleep(POLL_S)
