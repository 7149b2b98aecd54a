"""``tokenstorm worker --master HOST[:PORT]``: serve one Locust-engine run as a worker of the
master a ``tokenstorm run --engine locust --expect-workers K`` started elsewhere."""

from __future__ import annotations

import argparse

from harness.cli.errors import UserError

DEFAULT_MASTER_PORT = 5557


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "worker",
        help="serve a --engine locust run as one of its workers",
        description="Connect to a tokenstorm master (tokenstorm run --engine locust "
        "--expect-workers K), take a shard of its plan and send it. Exits when the run ends.",
    )
    parser.add_argument(
        "--master",
        required=True,
        metavar="HOST[:PORT]",
        help=f"the master's address (port {DEFAULT_MASTER_PORT} when left out)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="give up when no run starts within this long (default 600)",
    )
    parser.set_defaults(handler=handle)


def master_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "")
    if not port:
        return value, DEFAULT_MASTER_PORT
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise UserError(f"--master {value!r}: use HOST or HOST:PORT") from None


def handle(args: argparse.Namespace) -> int:
    from harness.locust.worker import run_worker

    host, port = master_address(args.master)
    return run_worker(host, port, args.wait)
