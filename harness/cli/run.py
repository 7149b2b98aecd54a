"""``tokenstorm run [SCENARIO]``: plan, send, record, summarise, report (and gate) one run, or
with ``--matrix`` one run per target of a matrix file followed by their comparison."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from harness.cli.console import render_summary
from harness.cli.errors import EXIT_INTERRUPTED, UserError
from harness.cli.fault_flag import add_fault_flag
from harness.cli.gate import (
    abort_check,
    add_budget_flags,
    bad_budget,
    budget_from_flags,
    gate_after_run,
)
from harness.cli.matrix import announce, load_matrix, worst_code
from harness.cli.scenario_source import add_quick_flags, add_trace_flags, resolve_scenario
from harness.cli.watch_flags import add_watch_flags, metrics_from_flags, watch_from_flags
from harness.gates import Budget, BudgetError
from harness.rebuild import RebuildError
from harness.run_dir import new_run_id, redact_url, valid_run_id
from harness.runner import RunResult, execute
from harness.upstream_files import RunError
from mock_models.embedded import MockStartError
from workloads.scenario import Scenario
from workloads.traces import TraceError


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "run",
        help="run a scenario (no scenario: the built-in demo against an embedded mock)",
        description="Plan, send, record, summarise and report one run. With no scenario and "
        "no --target, runs the built-in demo against an embedded mock server.",
    )
    parser.add_argument("scenario", nargs="?", help="scenario TOML file")
    add_quick_flags(parser)
    add_fault_flag(parser)
    parser.add_argument(
        "--ledger",
        metavar="URL",
        help="the upstream mock's ledger URL when a gateway stands between",
    )
    add_trace_flags(parser, "replay")
    parser.add_argument(
        "--out",
        default="results",
        metavar="DIR",
        help="where run directories go (default: results/)",
    )
    parser.add_argument("--run-id", metavar="ID", help="name of the run directory")
    parser.add_argument(
        "--no-preflight",
        action="store_true",
        help="do not check that the target accepts connections first",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="write summary.json but not report.html/report.md (for CI loops that gate on "
        "the summary; 'tokenstorm report RUN_DIR' builds them later)",
    )
    add_budget_flags(parser)
    add_watch_flags(parser)
    parser.add_argument(
        "--matrix",
        metavar="FILE",
        help="run the scenario against each [[target]] of this TOML file in "
        "turn (same seed) into OUT/RUN_ID/NAME, then compare them there",
    )
    add_engine_flags(parser)
    parser.set_defaults(handler=handle)


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    engine = parser.add_argument_group("engine (docs/locust.md)")
    engine.add_argument(
        "--engine",
        choices=("asyncio", "locust"),
        default="asyncio",
        help="asyncio: one process (default); locust: Locust master and workers",
    )
    engine.add_argument(
        "--workers", metavar="N|auto", help="locust: start N local workers (auto: one per core)"
    )
    engine.add_argument(
        "--expect-workers",
        type=int,
        metavar="K",
        help="locust: wait for K 'tokenstorm worker' processes to join, then start",
    )
    engine.add_argument(
        "--master-bind",
        metavar="HOST:PORT",
        help="locust: where workers reach the master (default 127.0.0.1:5557 with "
        "--expect-workers, a free loopback port with --workers)",
    )
    engine.add_argument(
        "--join-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="locust: exit, sending nothing, when the workers are not in by then",
    )
    engine.add_argument(
        "--ui",
        nargs="?",
        const=8089,
        type=int,
        metavar="PORT",
        help="locust: serve Locust's web UI on 127.0.0.1:PORT (default 8089), a live view",
    )


def _locust_options(args: argparse.Namespace) -> object:
    if getattr(args, "engine", "asyncio") != "locust":
        for flag in ("workers", "expect_workers", "master_bind", "ui"):
            if getattr(args, flag, None) is not None:
                raise UserError(f"--{flag.replace('_', '-')} needs --engine locust")
        return None
    import importlib.util

    if importlib.util.find_spec("locust") is None:
        raise UserError("--engine locust needs Locust: pip install -e '.[locust]'")
    from harness.cli.worker import master_address
    from harness.locust.run import LocustOptions, local_workers

    if (args.workers is None) == (args.expect_workers is None):
        raise UserError("--engine locust: give --workers N|auto or --expect-workers K")
    try:
        workers = None if args.workers is None else local_workers(args.workers)
    except ValueError:
        raise UserError(
            f"--workers {args.workers!r}: a whole number of at least 1, or auto"
        ) from None
    if args.expect_workers is not None and args.expect_workers < 1:
        raise UserError("--expect-workers must be at least 1")
    host, port = master_address(args.master_bind) if args.master_bind else ("127.0.0.1", 0)
    if workers is None and not args.master_bind:
        port = 5557
    return LocustOptions(
        workers=workers,
        expect_workers=args.expect_workers,
        bind_host=host,
        bind_port=port,
        join_timeout_s=args.join_timeout,
        ui_port=args.ui,
    )


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def _one(
    scenario: Scenario,
    out: Path,
    run_id: str,
    budget: Budget | None,
    args: argparse.Namespace,
    ledger: str | None,
) -> tuple[RunResult, int]:
    """Run, print the summary, gate: the result and the gate's exit code."""
    try:
        result = execute(
            scenario,
            out,
            run_id,
            ledger_url=ledger,
            preflight=not args.no_preflight,
            progress=not args.no_progress,
            abort_check=abort_check(budget),
            reports=not args.no_report,
            warn=_warn,
            locust=_locust_options(args),
            watch=watch_from_flags(args),
            metrics_at=metrics_from_flags(args),
        )
    except (RunError, MockStartError, RebuildError, TraceError) as exc:
        raise UserError(str(exc)) from None
    target = (
        "embedded mock" if scenario.target.url is None else str(redact_url(scenario.target.url))
    )
    report = (
        f"not written (--no-report); tokenstorm report {result.paths.root} builds it"
        if args.no_report
        else str(result.paths.report_html)
    )
    sys.stdout.write(render_summary(result.summary, report, target) + "\n")
    if result.aborted is not None:
        sys.stdout.write(
            f"aborted at {result.aborted['at_s']:.1f} s: "
            f"{result.aborted['metric']} {result.aborted['expression']} failed "
            f"(abort_on_fail)\n"
        )
    return result, gate_after_run(result.paths.root, budget, args)


def handle(args: argparse.Namespace) -> int:
    try:
        budget = budget_from_flags(args)
    except BudgetError as exc:
        return bad_budget(exc)
    scenario, _source = resolve_scenario(args.scenario, args)
    run_id = args.run_id or new_run_id(
        scenario.name + ("-matrix" if args.matrix else ""), datetime.now()
    )
    if not valid_run_id(run_id):
        raise UserError(f"--run-id {run_id!r}: use letters, digits, '.', '_' and '-' only")
    if args.matrix:
        return _matrix(scenario, Path(args.out) / run_id, budget, args)
    result, gate_code = _one(scenario, Path(args.out), run_id, budget, args, args.ledger)
    return EXIT_INTERRUPTED if result.interrupted else gate_code


def _matrix(
    scenario: Scenario, folder: Path, budget: Budget | None, args: argparse.Namespace
) -> int:
    if args.ledger:
        raise UserError(
            "--ledger names one target's ledger: with --matrix, set ledger = "
            '"URL" in the [[target]] entries instead'
        )
    try:
        entries = load_matrix(Path(args.matrix), scenario)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if folder.exists():
        raise UserError(f"{folder} already exists: choose another --run-id")
    codes: list[int] = []
    for index, entry in enumerate(entries):
        announce(entry, index, len(entries))
        result, code = _one(entry.scenario, folder, entry.name, budget, args, None)
        if result.interrupted:
            return EXIT_INTERRUPTED
        codes.append(code)
    from harness.cli.compare import write_comparison  # only a matrix compares

    write_comparison(
        [folder / e.name for e in entries],
        folder,
        force=True,
        forced_note="matrix entries compared although",
    )
    return worst_code(codes)
