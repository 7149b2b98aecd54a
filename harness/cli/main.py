"""The ``tokenstorm`` command: one entry point, one small module per verb."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.cli import compare, gate, mock, plan, proxy, report, run
from harness.cli.errors import EXIT_INTERRUPTED, UserError, fail


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenstorm",
        description="Load-testing and chaos benchmark harness for AI gateways and LLM servers.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in (run, mock, plan, report, proxy, gate, compare):
        verb.add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        args = parser.parse_args(["run", *(argv or sys.argv[1:])])
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
