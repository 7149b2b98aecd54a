"""Command line of the mock server: flags and an optional JSON config in; one "listening" line
on stdout, then serving until SIGTERM or SIGINT (exit 0, no traceback).

``python -m mock_models --host H --port P [--config-json JSON] [--seed N] [--ledger-file PATH]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.contract.config_errors import describe_validation_error
from mock_models.embedded import LISTENING_PREFIX
from mock_models.fleet.supervisor import WorkerStartError, run_fleet
from mock_models.http.listeners import ListenerPortError
from mock_models.http.server import base_url, serve
from mock_models.settings import MockSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_models", description="Serve the tokenstorm mock model server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--config-json", help="MockSettings as JSON (default: built-in demo)")
    parser.add_argument("--seed", type=int, help="overrides the config's seed")
    parser.add_argument("--ledger-file", type=Path, help="also append the ledger to this file")
    parser.add_argument(
        "--workers",
        help="processes on the one port, each a full replica (deployments with a port of "
        "their own pinned one per worker); auto: one per core",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> MockSettings:
    """The validated settings the flags describe; raises ``ValidationError``."""
    settings = (
        MockSettings.model_validate_json(args.config_json) if args.config_json else MockSettings()
    )
    overrides: dict[str, object] = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    if overrides:
        settings = MockSettings.model_validate({**settings.model_dump(), **overrides})
    return settings


def _announce(url: str) -> None:
    print(f"{LISTENING_PREFIX}{url}", flush=True)


def _announce_own(urls: dict[str, str]) -> None:
    for name, url in sorted(urls.items()):
        print(f"deployment {name} also on its own listener {url}", flush=True)


async def _serve_until_signalled(settings: MockSettings, args: argparse.Namespace) -> None:
    # Thousands of open streams make a full cyclic collection a stall of tens of ms, seen by
    # every stream as an inter-token spike: freeze the start-up objects and collect rarely.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = asyncio.create_task(
        serve(
            settings,
            args.host,
            args.port,
            ledger_path=args.ledger_file,
            ready=_announce,
            own_listeners=_announce_own,
        )
    )
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({server, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        stopping.cancel()
        server.result()  # a bind error surfaces here
        return
    server.cancel()
    try:
        await server
    except asyncio.CancelledError:
        pass


async def _serve_fleet(settings: MockSettings, args: argparse.Namespace, workers: int) -> None:
    def announce(port: int, pinned: dict[str, tuple[int, int]]) -> None:
        _announce(base_url(args.host, port))
        for name, (own_port, worker) in pinned.items():
            print(
                f"deployment {name} also on its own listener {base_url(args.host, own_port)} "
                f"(worker {worker})",
                flush=True,
            )
        print(f"tokenstorm-mock: {workers} workers on that port (SO_REUSEPORT)", flush=True)

    await run_fleet(settings, args.host, args.port, workers, args.ledger_file, announce)


def _runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run

    def run(main: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        print(describe_validation_error("tokenstorm-mock: bad settings", exc), file=sys.stderr)
        return 2
    if args.ledger_file is not None:
        try:
            args.ledger_file.open("ab").close()
        except OSError as exc:
            print(
                f"tokenstorm-mock: cannot write the ledger file {args.ledger_file}: "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
    workers = settings.worker_count()
    try:
        if workers > 1:
            _runner()(_serve_fleet(settings, args, workers))
        else:
            _runner()(_serve_until_signalled(settings, args))
    except KeyboardInterrupt:
        return 130  # Ctrl-C before the signal handlers were in place
    except WorkerStartError as exc:
        print(f"tokenstorm-mock: {exc}", file=sys.stderr)
        return 1
    except ListenerPortError as exc:
        print(f"tokenstorm-mock: {exc}", file=sys.stderr)
        return 2  # a settings mistake, like a bad field
    except OSError as exc:
        print(
            f"tokenstorm-mock: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
