"""``tokenstorm run``'s flags for watching a run: ``--watch URL`` (repeatable), ``--watch-every``,
``--watch-series`` and ``--metrics-port [HOST:]PORT``; parsed into what the runner takes, a bad
value refused in one line."""

from __future__ import annotations

import argparse

from harness.cli.errors import UserError
from harness.watch.scrape import DEFAULT_SERIES, EMBEDDED_MOCK, WatchSettings

#: A scrape never waits longer than this, nor longer than the interval between scrapes.
MAX_SCRAPE_TIMEOUT_S = 5.0


def add_watch_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--watch",
        action="append",
        metavar="URL",
        help="scrape this Prometheus text endpoint (the system under test's /metrics) during "
        "the run into watch.jsonl; 'mock' is the embedded mock's; repeatable",
    )
    parser.add_argument(
        "--watch-every",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between scrapes (default 10)",
    )
    parser.add_argument(
        "--watch-series",
        action="append",
        metavar="NAME",
        help="sample name (shell pattern) to keep from --watch endpoints; repeatable "
        "(default: process memory and CPU, vLLM queue and KV cache, Envoy and LiteLLM basics)",
    )
    parser.add_argument(
        "--metrics-port",
        metavar="[HOST:]PORT",
        help="serve this run's live figures for Prometheus on PORT (127.0.0.1 unless HOST)",
    )


def watch_from_flags(args: argparse.Namespace) -> WatchSettings | None:
    if not args.watch:
        return None
    every_s = float(args.watch_every)
    if not every_s > 0:
        raise UserError(f"--watch-every {args.watch_every}: give a number of seconds above 0")
    for url in args.watch:
        if url != EMBEDDED_MOCK and not url.startswith(("http://", "https://")):
            raise UserError(f"--watch {url}: give an http:// or https:// URL, or 'mock'")
    return WatchSettings(
        urls=tuple(args.watch),
        every_s=every_s,
        timeout_s=min(every_s, MAX_SCRAPE_TIMEOUT_S),
        series=tuple(args.watch_series) if args.watch_series else DEFAULT_SERIES,
    )


def metrics_from_flags(args: argparse.Namespace) -> tuple[str, int] | None:
    if args.metrics_port is None:
        return None
    text = str(args.metrics_port)
    host, _, port_text = text.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise UserError(f"--metrics-port {text}: give a port from 0 to 65535, or HOST:PORT")
    return (host.strip("[]") or "127.0.0.1", port)
