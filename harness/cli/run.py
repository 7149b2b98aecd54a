"""``tokenstorm run [SCENARIO]``: plan, send, record, summarise and report one run."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from harness.cli.console import render_summary
from harness.cli.errors import EXIT_INTERRUPTED, UserError
from harness.cli.gate import add_budget_flags, bad_budget, budget_from_flags, gate_after_run
from harness.cli.scenario_source import add_quick_flags, add_trace_flags, resolve_scenario
from harness.gates import BudgetError
from harness.rebuild import RebuildError
from harness.run_dir import new_run_id, redact_url, valid_run_id
from harness.runner import RunError, execute
from mock_models.embedded import MockStartError
from workloads.traces import TraceError


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "run", help="run a scenario (no scenario: the built-in demo against an embedded mock)",
        description="Plan, send, record, summarise and report one run. With no scenario and "
                    "no --target, runs the built-in demo against an embedded mock server.")
    parser.add_argument("scenario", nargs="?", help="scenario TOML file")
    add_quick_flags(parser)
    parser.add_argument("--ledger", metavar="URL",
                        help="the upstream mock's ledger URL when a gateway stands between")
    add_trace_flags(parser, "replay")
    parser.add_argument("--out", default="results", metavar="DIR",
                        help="where run directories go (default: results/)")
    parser.add_argument("--run-id", metavar="ID", help="name of the run directory")
    parser.add_argument("--no-preflight", action="store_true",
                        help="do not check that the target accepts connections first")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    add_budget_flags(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        budget = budget_from_flags(args)
    except BudgetError as exc:
        return bad_budget(exc)
    scenario, _source = resolve_scenario(args.scenario, args)
    run_id = args.run_id or new_run_id(scenario.name, datetime.now())
    if not valid_run_id(run_id):
        raise UserError(f"--run-id {run_id!r}: use letters, digits, '.', '_' and '-' only")
    try:
        result = execute(scenario, Path(args.out), run_id, ledger_url=args.ledger,
                         preflight=not args.no_preflight, progress=not args.no_progress)
    except (RunError, MockStartError, RebuildError, TraceError) as exc:
        raise UserError(str(exc)) from None
    target = ("embedded mock" if scenario.target.url is None
              else str(redact_url(scenario.target.url)))
    sys.stdout.write(render_summary(result.summary, str(result.paths.report_html), target) + "\n")
    gate_code = gate_after_run(result.paths.root, budget, args)
    return EXIT_INTERRUPTED if result.interrupted else gate_code
