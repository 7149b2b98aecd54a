"""``tokenstorm sweep SCENARIO --slo ...``: the scenario's workload at rising offered load, then
bisection on the knee; the highest load meeting the SLO, the frontier and two charts out.

Each step is a normal run directory under ``OUT/SWEEP_ID/`` (``compare`` and ``gate`` work on
it); without a target URL each starts its own embedded mock, so no step inherits another's
caches or queue. The search and the answer are ``harness.capacity.sweep_search`` and
``sweep_result``; the first invalid step (the generator or a tokenstorm mock could not hold
the load) ends the sweep and is never taken for the system's limit. ``--budget`` gates the
answer with the budget's ``[sweep]`` rows.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.capacity.sweep_result import Step, frontier, limit, pooled, result_figures, step_json
from harness.capacity.sweep_search import Outcome, SearchSettings, next_value
from harness.cli.errors import EXIT_INTERRUPTED, UserError
from harness.cli.gate import bad_budget, gate_sweep
from harness.cli.scenario_source import resolve_scenario
from harness.cli.sweep_steps import judge, slo_budget, slo_limits, step_scenario
from harness.contract.quantities import parse_duration_s
from harness.gates import BudgetError, console_table, load_budget
from harness.rebuild import RebuildError
from harness.report.markdown import markdown_table
from harness.report.projection import plain_table
from harness.report.sweep import (
    FRONTIER_HEADER,
    answer_lines,
    frontier_rows,
    html,
    markdown,
    step_rows,
)
from harness.run_dir import new_run_id, valid_run_id
from harness.runner import execute
from harness.upstream_files import RunError
from mock_models.embedded import MockStartError
from workloads.scenario import Scenario

SWEEP_SCHEMA = "tokenstorm.sweep/1"
DEFAULT_FRONTIER = ("ttft=200ms,500ms,1s,2s", "e2e=1s,2s,5s,10s")


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "sweep",
        help="rising load, then bisection: the highest load meeting an SLO",
        description="Run the scenario's workload at rising offered load, then bisect the knee: "
        "the highest load meeting the SLO, a frontier table and charts.",
    )
    parser.add_argument("scenario", nargs="?", help="scenario TOML file (default: the demo)")
    parser.add_argument("--target", metavar="URL", help="base URL (default: an embedded mock)")
    parser.add_argument("--model", help="model name to request")
    parser.add_argument("--api", help="openai-chat or anthropic-messages")
    parser.add_argument("--seed", type=int)
    slo = parser.add_argument_group("SLO")
    slo.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar='"METRIC EXPR"',
        help='a budget row, e.g. "e2e_ms p(99) < 3s" (repeatable)',
    )
    slo.add_argument(
        "--attainment",
        type=float,
        default=0.99,
        metavar="SHARE",
        help="without --slo: share of requests meeting the scenario's [slo] (0.99)",
    )
    slo.add_argument(
        "--max-error-rate",
        type=float,
        default=0.01,
        metavar="SHARE",
        help="a step with more errors misses the SLO (default 0.01)",
    )
    search = parser.add_argument_group("search")
    search.add_argument("--by", choices=("rate", "concurrency"), default="rate")
    search.add_argument("--start", type=float, help="first load (default: the scenario's)")
    search.add_argument("--growth", type=float, default=2.0, help="factor while rising (2)")
    search.add_argument("--top", type=float, default=math.inf, help="highest load to try")
    search.add_argument("--tolerance", type=float, default=0.05, help="knee precision (0.05)")
    search.add_argument("--max-steps", type=int, default=12, help="distinct loads at most (12)")
    search.add_argument("--repeats", type=int, default=1, help="runs per load, for an interval")
    search.add_argument("--step-duration", metavar="S", help="each step's steady phase")
    parser.add_argument(
        "--frontier",
        action="append",
        metavar="METRIC=LIMITS",
        help="p99 limits, e.g. e2e=1s,3s (default ttft and e2e lists)",
    )
    parser.add_argument("--out", default="results", metavar="DIR")
    parser.add_argument("--run-id", metavar="ID", help="name of the sweep directory")
    parser.add_argument("--budget", metavar="FILE", help="gate the answer ([sweep] rows)")
    parser.add_argument("--step-reports", action="store_true", help="report.html per step")
    parser.add_argument("--no-report", action="store_true", help="no sweep.html")
    parser.set_defaults(handler=handle)


def _frontier_spec(texts: list[str] | None) -> list[tuple[str, list[float]]]:
    spec = []
    for text in texts or DEFAULT_FRONTIER:
        metric, _, limits = text.partition("=")
        metric = metric.strip().removesuffix("_ms")
        if metric not in ("ttft", "e2e") or not limits:
            raise UserError(f"--frontier {text!r}: write ttft=LIMITS or e2e=LIMITS, e.g. e2e=1s,3s")
        try:
            spec.append((metric, [parse_duration_s(p) * 1000.0 for p in limits.split(",")]))
        except ValueError as exc:
            raise UserError(f"--frontier {text!r}: {exc}") from None
    return spec


def _settings(args: argparse.Namespace, scenario: Scenario) -> SearchSettings:
    whole = args.by == "concurrency"
    own = scenario.arrival.concurrency if whole else scenario.arrival.rate
    start = args.start if args.start is not None else float(own or 1.0)
    try:
        return SearchSettings(
            start, args.growth, args.top, 0.0, args.tolerance, args.max_steps, whole
        )
    except ValueError as exc:
        raise UserError(f"sweep settings: {exc}") from None


def _run_steps(
    scenario: Scenario, args: argparse.Namespace, settings: SearchSettings, folder: Path
) -> tuple[list[Step], str | None]:
    """The steps run, and the one Ctrl-C stopped (then left unjudged and the search ended)."""
    budget = slo_budget(args.slo, args.attainment, args.max_error_rate, scenario)
    duration_s = parse_duration_s(args.step_duration) if args.step_duration else scenario.duration
    limits = slo_limits(budget)
    steps: list[Step] = []
    index = 0
    while (value := next_value(settings, pooled(steps))) is not None:
        for repeat in range(args.repeats):
            step = step_scenario(scenario, args.by, value, repeat, duration_s, limits)
            name = f"step{index:02d}-{value:g}" + (f"-r{repeat}" if args.repeats > 1 else "")
            ran = execute(step, folder, name, progress=False, reports=args.step_reports)
            if ran.interrupted:
                return steps, name
            steps.append(judge(folder / name, budget, value, repeat))
            sys.stdout.write("  ".join(step_rows({"steps": [step_json(steps[-1])]})[0]) + "\n")
            sys.stdout.flush()  # one line per step as it ends, also into a CI log
            if steps[-1].outcome is Outcome.INVALID:
                break
        index += 1
    return steps, None


def sweep_document(
    steps: list[Step], settings: SearchSettings, args: argparse.Namespace, meta: dict[str, Any]
) -> dict[str, Any]:
    found = limit(steps, settings)
    notes = []
    if args.repeats < 2:
        notes.append("one run per load: no interval over repeats (give --repeats 3)")
    return {
        "schema": SWEEP_SCHEMA,
        **meta,
        "by": args.by,
        "slo": list(args.slo) or [f"slo_attainment >= {args.attainment:g} of the scenario's [slo]"],
        "max_error_rate": args.max_error_rate,
        "settings": {
            "start": settings.start,
            "growth": settings.growth,
            "top": settings.top,
            "tolerance": settings.tolerance,
            "max_steps": settings.max_steps,
            "repeats": args.repeats,
        },
        "steps": [step_json(s) for s in steps],
        "result": {**found, **result_figures(steps, found, args.by)},
        "frontier": [
            row
            for metric, limits in _frontier_spec(args.frontier)
            for row in frontier(steps, metric, limits)
        ],
        "notes": notes,
    }


def handle(args: argparse.Namespace) -> int:
    try:
        budget = None if args.budget is None else load_budget(Path(args.budget))
    except BudgetError as exc:
        return bad_budget(exc)
    scenario, _source = resolve_scenario(args.scenario, args)
    if scenario.trace is not None:
        raise UserError("a [trace] replays its own send times: sweep a [[workload]] scenario")
    _frontier_spec(args.frontier)  # refuse a bad spec before anything runs
    if args.repeats < 1:
        raise UserError("--repeats must be at least 1")
    settings = _settings(args, scenario)
    sweep_id = args.run_id or new_run_id(f"{scenario.name}-sweep", datetime.now())
    if not valid_run_id(sweep_id):
        raise UserError(f"--run-id {sweep_id!r}: use letters, digits, '.', '_' and '-' only")
    folder = Path(args.out) / sweep_id
    if folder.exists():
        raise UserError(f"{folder} already exists: choose another --run-id")
    try:
        steps, interrupted = _run_steps(scenario, args, settings, folder)
    except (RunError, MockStartError, RebuildError) as exc:
        raise UserError(str(exc)) from None
    document = sweep_document(
        steps, settings, args, {"sweep_id": sweep_id, "scenario": scenario.name}
    )
    if interrupted is not None:
        document["notes"].append(
            f"stopped by Ctrl-C during {interrupted}: the search is unfinished"
        )
    (folder / "sweep.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (folder / "sweep.md").write_text(markdown(document, markdown_table), encoding="utf-8")
    if not args.no_report:
        (folder / "sweep.html").write_text(html(document), encoding="utf-8")
    sys.stdout.write("\n".join(answer_lines(document)) + "\n")
    frontier_table = plain_table(FRONTIER_HEADER, frontier_rows(document))
    sys.stdout.write("\n".join(frontier_table) + "\n")
    sys.stdout.write(f"sweep         {folder / 'sweep.json'}\n")
    if interrupted is not None:
        return EXIT_INTERRUPTED
    if budget is None:
        return 0
    report = gate_sweep(folder, budget)
    sys.stdout.write(console_table(report) + "\n")
    return report.exit_code
