"""``tokenstorm gate RUN_DIR --budget FILE [--baseline RUN_DIR]``: judge a run against a budget
(or a sweep directory's answer against the budget's ``[sweep]`` rows).

Writes ``gates.json`` and ``junit.xml`` into the run directory, adds the ✓/✗ table to its
``report.md`` and ``report.html``, prints the table, and exits 0 pass, 99 fail,
98 inconclusive, 104 bad budget file (one line on stderr naming file, key and expression).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from harness import rebuild
from harness.cli.errors import UserError
from harness.contract.records import AttemptRecord
from harness.engine_config import LiveStats
from harness.gates import (
    EXIT_BAD_BUDGET,
    Budget,
    BudgetError,
    GateReport,
    LiveCounts,
    LiveTrends,
    RunDataError,
    console_table,
    evaluate,
    first_breach,
    gates_json,
    junit_xml,
    load_budget,
    load_run,
)
from harness.gates.abortable import LIVE_TRENDS
from harness.gates.budget import Check
from harness.gates.sweep import evaluate_sweep

#: Seed of the noise checks' bootstrap, so the same runs always get the same verdict.
NOISE_SEED = 0x6A7E


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "gate",
        help="check a run against a budget file (exit 0 pass, 99 fail, 98 inconclusive)",
        description="Evaluate the budget's thresholds (and regressions against --baseline) on "
        "a run directory. Exit 0 pass, 99 fail, 98 inconclusive, 104 bad budget.",
    )
    parser.add_argument("run_dir", help="a results/<run_id> directory, or a sweep directory")
    parser.add_argument("--budget", required=True, metavar="FILE", help="budget TOML file")
    parser.add_argument(
        "--baseline", metavar="RUN_DIR", help="run directory the [regression] checks compare with"
    )
    parser.set_defaults(handler=handle)


def bad_budget(exc: BudgetError) -> int:
    sys.stderr.write(f"tokenstorm: error: {exc}\n")
    return EXIT_BAD_BUDGET


def apply_budget(
    run_dir: Path, budget: Budget, baseline_dir: Path | None, *, reports: bool = True
) -> GateReport:
    """Evaluate, write gates.json, junit.xml and (unless ``reports`` is false) the reports'
    gate table; return the report."""
    # Runs over the size ``tokenstorm report`` streams are not read into memory either: their
    # samples are queried from their files (harness.stats.sources).
    above = rebuild.STREAMED_ABOVE_ATTEMPTS
    try:
        run = load_run(run_dir, streamed_above=above)
        baseline = None if baseline_dir is None else load_run(baseline_dir, streamed_above=above)
    except RunDataError as exc:
        raise UserError(str(exc)) from None
    report = evaluate(budget, run, baseline, np.random.default_rng(NOISE_SEED))
    (run_dir / "gates.json").write_text(
        json.dumps(gates_json(report), indent=2) + "\n", encoding="utf-8"
    )
    (run_dir / "junit.xml").write_text(junit_xml(report), encoding="utf-8")
    if reports:
        from harness.report import write_reports  # jinja2: not on a run's start-up path

        try:
            records = (
                list(run.records or ()) if run.files is None else rebuild.chart_records(run.files)
            )
        except rebuild.RebuildError as exc:
            raise UserError(str(exc)) from None
        write_reports(run_dir, run.summary, records, run.manifest)
    return report


def add_budget_flags(parser: argparse.ArgumentParser) -> None:
    """``--budget`` / ``--baseline`` for ``tokenstorm run``: gate the run when it ends."""
    parser.add_argument(
        "--budget",
        metavar="FILE",
        help="gate the run with this budget file; the exit code is the gate's",
    )
    parser.add_argument(
        "--baseline",
        metavar="RUN_DIR",
        help="run directory the budget's [regression] checks compare with",
    )


def budget_from_flags(args: argparse.Namespace) -> Budget | None:
    """The ``--budget`` of a run, validated before anything is sent (``BudgetError``)."""
    baseline = getattr(args, "baseline", None)
    if baseline and not getattr(args, "budget", None):
        raise UserError("--baseline needs --budget (the regression checks live in the budget)")
    if baseline and not (Path(baseline) / "summary.json").is_file():
        raise UserError(f"--baseline {baseline}: not a run directory with a summary.json")
    return None if not getattr(args, "budget", None) else load_budget(Path(args.budget))


def gate_after_run(run_dir: Path, budget: Budget | None, args: argparse.Namespace) -> int:
    """Gate a finished run when a budget was given; the gate's exit code (0 without one)."""
    if budget is None:
        return 0
    baseline = None if args.baseline is None else Path(args.baseline)
    reports = not getattr(args, "no_report", False)
    report = apply_budget(run_dir, budget, baseline, reports=reports)
    sys.stdout.write(console_table(report) + "\n")
    return report.exit_code


class BudgetWatch:
    """The live check of a budget's ``abort_on_fail`` thresholds: reads the engine's counters
    once a second and every attempt record as it is written (for the latency checks)."""

    def __init__(self, checks: list[Check]) -> None:
        self._checks = checks
        self._trends = LiveTrends(checks, LIVE_TRENDS)

    def observe(self, record: AttemptRecord) -> None:
        if self._trends:
            self._trends.observe(record)

    def __call__(self, stats: LiveStats, elapsed_s: float) -> dict[str, Any] | None:
        found = first_breach(
            self._checks,
            LiveCounts(
                elapsed_s=elapsed_s,
                requests_done=stats.requests_done,
                requests_ok=stats.ok,
                requests_failed=stats.requests_failed,
                attempts=stats.sent,
                dropped=stats.dropped,
            ),
            self._trends,
        )
        return None if found is None else found.as_json()


def abort_check(budget: Budget | None) -> BudgetWatch | None:
    """The live check of the budget's ``abort_on_fail`` thresholds (None when it has none)."""
    checks = [] if budget is None else [c for c in budget.checks if c.abort_on_fail]
    return BudgetWatch(checks) if checks else None


def gate_sweep(folder: Path, budget: Budget) -> GateReport:
    """Judge a sweep directory's answer with the budget's ``[sweep]`` rows; write its
    gates.json and junit.xml."""
    try:
        document = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{folder / 'sweep.json'}: cannot read it ({exc})") from None
    report = evaluate_sweep(budget, document, str(document.get("sweep_id") or folder.name))
    (folder / "gates.json").write_text(
        json.dumps(gates_json(report), indent=2) + "\n", encoding="utf-8"
    )
    (folder / "junit.xml").write_text(junit_xml(report), encoding="utf-8")
    return report


def handle(args: argparse.Namespace) -> int:
    try:
        budget = load_budget(Path(args.budget))
    except BudgetError as exc:
        return bad_budget(exc)
    if (Path(args.run_dir) / "sweep.json").is_file():
        report = gate_sweep(Path(args.run_dir), budget)
        sys.stdout.write(console_table(report) + "\n")
        return report.exit_code
    baseline = None if args.baseline is None else Path(args.baseline)
    report = apply_budget(Path(args.run_dir), budget, baseline)
    sys.stdout.write(console_table(report) + "\n")
    return report.exit_code
