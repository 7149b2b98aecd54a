"""``tokenstorm proxy --upstream URL``: the fault catalogue in front of a real upstream."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from faults.profile import FaultProfile, ProfileError, load_profile
from faults.proxy.server import build_app, serve, upstream_base
from harness.cli.errors import UserError
from harness.cli.fault_flag import add_fault_flag, add_fault_rules


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "proxy",
        help="fault proxy in front of a real upstream, with a ledger",
        description="Forward requests to --upstream only, applying a fault profile (or the "
        "x-tokenstorm-fault header) token-aware on SSE streams; serve the ledger "
        "at /tokenstorm/ledger and swap profiles with PUT /tokenstorm/faults.",
    )
    parser.add_argument(
        "--upstream",
        required=True,
        metavar="URL",
        help="where requests go, e.g. http://127.0.0.1:8000",
    )
    parser.add_argument(
        "--faults",
        metavar="PROFILE",
        help="a shipped profile name (flaky, brownout, ...) or a TOML file",
    )
    add_fault_flag(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ledger-file", metavar="PATH", help="also append the ledger here")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        upstream_base(args.upstream)
        base = load_profile(args.faults) if args.faults else None
    except (ValueError, ProfileError) as exc:
        raise UserError(str(exc)) from None
    profile = add_fault_rules(base, args) or FaultProfile(name="none")
    app = build_app(
        args.upstream,
        profile,
        seed=args.seed,
        ledger_path=Path(args.ledger_file) if args.ledger_file else None,
    )

    def ready(url: str) -> None:
        print(
            f"tokenstorm-proxy listening on {url} -> {args.upstream} (faults: {profile.name})",
            flush=True,
        )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = asyncio.create_task(serve(app, args.host, args.port, ready))
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await server

    try:
        asyncio.run(main())
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    sys.stdout.flush()
    return 0
