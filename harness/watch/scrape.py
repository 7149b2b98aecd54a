"""Watching the system under test: Prometheus text endpoints (``--watch URL``) scraped every
``every_s`` seconds while the run goes; the chosen series out, one JSON line each, into the run
directory's ``watch.jsonl`` (format: docs/records.md).

Parsing is prometheus-client's ``text_string_to_metric_families``. Series are chosen by sample
name (shell-style patterns, ``DEFAULT_SERIES`` unless given). Each scrape has its own timeout;
an endpoint that fails or times out, or answers text that does not parse, gives one ``error``
line for that scrape, and a series that was there and is no longer gives one ``gone`` line:
both recorded, neither fatal. URLs are written with their secrets redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fnmatch
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from harness.run_dir import redact_url

WATCH_FILE = "watch.jsonl"
#: What is kept when no series is named: process memory and CPU (any exporter using a
#: Prometheus client library), vLLM's queue and KV-cache gauges, Envoy's memory and active
#: upstream requests, LiteLLM's in-flight requests.
DEFAULT_SERIES = (
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "envoy_server_memory_allocated",
    "envoy_server_memory_heap_size",
    "envoy_cluster_upstream_rq_active",
    "litellm_in_flight_requests",
)
#: Series kept per endpoint and scrape at most (a pattern matching thousands is cut here).
MAX_SERIES = 500


#: ``--watch mock``: the embedded mock's own ``/metrics`` (its port is chosen at start).
EMBEDDED_MOCK = "mock"


@dataclass(frozen=True, slots=True)
class WatchSettings:
    urls: tuple[str, ...]
    every_s: float = 10.0
    timeout_s: float = 5.0
    series: tuple[str, ...] = DEFAULT_SERIES

    def resolved(self, mock_metrics_url: str | None) -> WatchSettings:
        """``EMBEDDED_MOCK`` replaced by the embedded mock's URL; ``ValueError`` without one."""
        if EMBEDDED_MOCK not in self.urls:
            return self
        if mock_metrics_url is None:
            raise ValueError(
                f"--watch {EMBEDDED_MOCK}: there is no embedded mock (the scenario names a "
                "target url): give the target's metrics URL instead"
            )
        urls = tuple(mock_metrics_url if u == EMBEDDED_MOCK else u for u in self.urls)
        return dataclasses.replace(self, urls=urls)


def series_id(name: str, labels: Mapping[str, str]) -> str:
    """``name{a="1",b="2"}`` (labels sorted), or the bare name without labels."""
    if not labels:
        return name
    inner = ",".join(f'{key}="{labels[key]}"' for key in sorted(labels))
    return f"{name}{{{inner}}}"


def chosen(text: str, patterns: Iterable[str]) -> dict[str, tuple[str, dict[str, str], float]]:
    """The samples of exposition ``text`` whose names match a pattern: series id -> (name,
    labels, value); ``ValueError`` when the text does not parse."""
    wanted = tuple(patterns)
    out: dict[str, tuple[str, dict[str, str], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if len(out) >= MAX_SERIES:
                return out
            if any(fnmatch.fnmatchcase(sample.name, pattern) for pattern in wanted):
                labels = dict(sample.labels)
                out[series_id(sample.name, labels)] = (sample.name, labels, float(sample.value))
    return out


def scrape_lines(
    t_s: float,
    url: str,
    previous: set[str],
    found: Mapping[str, tuple[str, dict[str, str], float]] | None,
    error: str | None = None,
) -> list[dict[str, Any]]:
    """One scrape's lines: its series, ``gone`` for those no longer there, or its error."""
    at = round(t_s, 3)
    if found is None:
        return [{"t_s": at, "url": url, "error": error or "no answer"}]
    lines: list[dict[str, Any]] = [
        {"t_s": at, "url": url, "series": key, "name": name, "labels": labels, "value": value}
        for key, (name, labels, value) in found.items()
    ]
    lines.extend(
        {"t_s": at, "url": url, "series": key, "gone": True}
        for key in sorted(previous - found.keys())
    )
    return lines


async def _fetch(session: aiohttp.ClientSession, url: str, timeout_s: float) -> str:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with session.get(url, timeout=timeout) as response:
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        return await response.text()


class Watcher:
    """Scrapes ``settings.urls`` on the run clock ``clock_s`` into ``path`` until cancelled."""

    def __init__(self, settings: WatchSettings, path: Path, clock_s: Callable[[], float]) -> None:
        self._settings = settings
        self._path = path
        self._clock_s = clock_s
        self._seen: dict[str, set[str]] = {url: set() for url in settings.urls}
        self.scrapes = 0

    async def run(self, started: asyncio.Event) -> None:
        """Scrape at 0 on the run clock and every ``every_s`` after, until cancelled."""
        await started.wait()
        handle: IO[bytes] = self._path.open("ab")
        try:
            async with aiohttp.ClientSession() as session:
                next_s = 0.0
                while True:
                    await self.once(session, handle)
                    # A scrape that overran its slot skips the slots it missed.
                    while next_s <= self._clock_s():
                        next_s += self._settings.every_s
                    await asyncio.sleep(next_s - self._clock_s())
        finally:
            handle.close()

    async def once(self, session: aiohttp.ClientSession, handle: IO[bytes]) -> None:
        """One scrape of every URL, at the same instant, each within its timeout."""
        t_s = self._clock_s()
        settings = self._settings
        texts = await asyncio.gather(
            *(_fetch(session, url, settings.timeout_s) for url in settings.urls),
            return_exceptions=True,
        )
        out: list[dict[str, Any]] = []
        for url, text in zip(settings.urls, texts, strict=True):
            shown = str(redact_url(url))
            if isinstance(text, BaseException):
                if isinstance(text, asyncio.CancelledError):
                    raise text
                why = _describe(text, settings).replace(url, shown)
                out.extend(scrape_lines(t_s, shown, set(), None, why))
                continue
            try:
                # Parsing a large exposition takes milliseconds: off the engine's loop.
                found = await asyncio.to_thread(chosen, text, settings.series)
            except ValueError as exc:
                out.extend(scrape_lines(t_s, shown, set(), None, f"not Prometheus text: {exc}"))
                continue
            out.extend(scrape_lines(t_s, shown, self._seen[url], found))
            self._seen[url] = set(found)
        handle.write(b"".join(orjson.dumps(line) + b"\n" for line in out))
        handle.flush()
        self.scrapes += 1


def _describe(error: BaseException, settings: WatchSettings) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {settings.timeout_s:g} s"
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]


async def final_scrape(watcher: Watcher, path: Path) -> None:
    """One last scrape after the run (the SUT's memory once the load is gone)."""
    with contextlib.suppress(OSError), path.open("ab") as handle:
        async with aiohttp.ClientSession() as session:
            await watcher.once(session, handle)


def read_watch(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of a ``watch.jsonl``, one at a time; a line cut short by a kill is skipped."""
    with path.open("rb") as handle:
        for raw in handle:
            with contextlib.suppress(orjson.JSONDecodeError):
                line = orjson.loads(raw)
                if isinstance(line, dict):
                    yield line
