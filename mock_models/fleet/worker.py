"""One worker of a mock fleet: the fleet's settings, its index, run folder and start in; a full
mock serving every deployment on the shared port (``SO_REUSEPORT``), the deployments pinned to
it on their own ports, plus a private admin port on 127.0.0.1, until SIGTERM or SIGINT.

``python -m mock_models.fleet.worker --index I --workers N --folder DIR ...``, then the fleet's
start (a ``time.monotonic`` reading) on a line of stdin once it printed ``WORKER_LOADED``
(started by ``mock_models.fleet.supervisor``, not by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
from aiohttp import web

from faults.profile import profile_from_json
from mock_models.fleet import folder
from mock_models.fleet.admin import FleetAdmin
from mock_models.fleet.journal import JournalWriter, journal_path
from mock_models.http.server import SERVICE_KEY, base_url, build_app
from mock_models.settings import MockSettings

#: The line a worker prints on stdout once loaded; it then reads the fleet's start on stdin.
WORKER_LOADED = "tokenstorm-mock worker loaded"
#: The line a worker prints on stdout once it listens (then the URL).
WORKER_LISTENING = "tokenstorm-mock worker listening on "


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mock_models.fleet.worker")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config-json", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--restarts", type=int, default=0)
    parser.add_argument(
        "--own-json", default="{}", help="the deployments pinned to it: {name: port}"
    )
    return parser


async def _serve(args: argparse.Namespace, epoch_s: float) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    settings = MockSettings.model_validate_json(args.config_json)
    folder.end_last_line(folder.ledger_path(args.folder, args.index))
    folder.end_last_line(journal_path(args.folder, args.index))
    app = build_app(
        settings, ledger_path=folder.ledger_path(args.folder, args.index), epoch_s=epoch_s
    )
    journal = JournalWriter(journal_path(args.folder, args.index))
    app[SERVICE_KEY].journal = journal
    app[SERVICE_KEY].run_start = lambda run_id, now_s: folder.run_started(
        args.folder, run_id, now_s
    )
    listeners = app[SERVICE_KEY].listeners
    listeners.pin({str(name): int(port) for name, port in orjson.loads(args.own_json).items()})
    admin = FleetAdmin(
        args.folder, args.workers, lambda request: listeners.owner(request) is not None
    )
    app.middlewares.append(admin.middleware)

    async def close_admin(_: web.Application) -> None:
        await admin.close()
        journal.close()

    app.on_cleanup.append(close_admin)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        admin.admin_port = int(runner.addresses[0][1])
        # No await between announcing and reading the profile: a PUT either finds this
        # worker's record and reaches it, or wrote its file before this read.
        folder.announce(
            args.folder,
            folder.WorkerRecord(args.index, os.getpid(), admin.admin_port, args.restarts),
        )
        put = folder.faults_path(args.folder)
        if put.exists():
            app[SERVICE_KEY].faults.profile = profile_from_json(put.read_bytes(), str(put))
        assert runner.server is not None
        await listeners.start(args.host, runner.server)
        site = web.TCPSite(runner, args.host, args.port, backlog=4096, reuse_port=True)
        await site.start()
        print(f"{WORKER_LISTENING}{base_url(args.host, args.port)}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print(WORKER_LOADED, flush=True)
    try:
        epoch_s = float(sys.stdin.readline())
    except ValueError:
        print("tokenstorm-mock worker: no start from the parent on stdin", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(args, epoch_s))
        return 0
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(args, epoch_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
