"""``tokenstorm plan SCENARIO``: write the plan and preview it, sending nothing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.errors import UserError
from harness.cli.scenario_source import add_quick_flags, add_trace_flags, resolve_scenario
from harness.contract.records import write_jsonl
from workloads import preview, render_svg, render_text
from workloads.planner import plan_run
from workloads.traces import TraceError


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser("plan", help="write and preview a plan without sending anything")
    parser.add_argument("scenario", nargs="?", help="scenario TOML file (default: the demo)")
    add_quick_flags(parser)
    add_trace_flags(parser, "plan")
    parser.add_argument(
        "--out",
        default="plan.jsonl",
        metavar="PLAN.jsonl",
        help="where to write the plan (default: plan.jsonl)",
    )
    parser.add_argument("--svg", metavar="FILE", help="also draw the preview as an SVG picture")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    scenario, source = resolve_scenario(args.scenario, args)
    try:
        planned = plan_run(scenario)
    except TraceError as exc:
        raise UserError(str(exc)) from None
    plan = planned.plan
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        count = write_jsonl(out, plan)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write ({exc.strerror})") from None
    summary = preview(plan, planned.duration_s)
    sys.stdout.write(
        f"plan of {source} ({scenario.name}, seed {scenario.seed}): "
        f"{count} requests written to {out}\n"
    )
    sys.stdout.write(render_text(summary) + "\n")
    if planned.closed_loop:
        sessions = len({r.session_id for r in plan if not r.spawned_by})
        sys.stdout.write(
            f"closed loop: {scenario.arrival.concurrency} sessions in flight, each starting "
            "when one ends, so sessions have no planned start (all are planned from 0); the "
            f"run draws sessions as it needs them, in this order: these are its first "
            f"{sessions}\n"
        )
    if args.svg:
        try:
            Path(args.svg).write_text(render_svg(summary), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--svg {args.svg}: cannot write ({exc.strerror})") from None
        sys.stdout.write(f"picture: {args.svg}\n")
    return 0
