"""The ``tokenstorm`` command: one entry point, one small module per verb.

A verb's module is imported only when that verb runs (``--help`` without a verb imports them
all): the modules behind ``compare``, ``mock`` or ``proxy`` cost CPU that ``tokenstorm run``
would otherwise pay before its first request.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol

from harness.cli.errors import EXIT_INTERRUPTED, UserError, fail

#: The verbs, in the order ``--help`` lists them; each is a module of ``harness.cli``.
VERBS = (
    "run",
    "mock",
    "plan",
    "report",
    "export",
    "proxy",
    "gate",
    "compare",
    "project",
    "sweep",
    "worker",
)


class _Verb(Protocol):
    def add_parser(self, verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command's parser: every verb, or ``only`` that one (what a run of it needs)."""
    parser = argparse.ArgumentParser(
        prog="tokenstorm",
        description="Load-testing and chaos benchmark harness for AI gateways and LLM servers.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERBS if only is None else (only,):
        module: _Verb = importlib.import_module(f"harness.cli.{name}")
        module.add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    verb = arguments[0] if arguments and arguments[0] in VERBS else None
    if not arguments:
        verb, arguments = "run", ["run"]
    args = build_parser(verb).parse_args(arguments)
    if args.verb is None:
        args = build_parser("run").parse_args(["run", *arguments])
    try:
        code: int = args.handler(args)
        return code
    except UserError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write("tokenstorm: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
