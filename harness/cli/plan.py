"""``tokenstorm plan SCENARIO``: write the plan and preview it, sending nothing. The open-loop
plan is written as it is drawn (``workloads.plan_stream``, bounded memory), and a plan longer
than ``PREVIEW_REQUESTS`` is previewed on its first requests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.errors import UserError
from harness.cli.scenario_source import add_quick_flags, add_trace_flags, resolve_scenario
from harness.contract.records import PlannedRequest, to_json_line, write_jsonl
from workloads import preview, render_svg, render_text
from workloads.closed_loop import CLOSED_LOOP
from workloads.plan_stream import in_plan_order, iter_units, outline
from workloads.planner import plan_run
from workloads.scenario import Scenario
from workloads.traces import TraceError

#: A longer plan is written whole but previewed on its first requests only.
PREVIEW_REQUESTS = 200_000


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


def _write_streamed(scenario: Scenario, out: Path) -> tuple[list[PlannedRequest], int, float]:
    """Write the open-loop plan as it is drawn (bounded memory); keep its first
    ``PREVIEW_REQUESTS`` for the preview. (kept, count written, steady phase)."""
    kept: list[PlannedRequest] = []
    count = 0
    with out.open("wb") as handle:
        for request in in_plan_order(iter_units(scenario)):
            handle.write(to_json_line(request))
            count += 1
            if count <= PREVIEW_REQUESTS:
                kept.append(request)
    # [arrival] requests may end the plan early: the steady phase then follows it.
    requests = scenario.arrival.requests
    duration_s = scenario.duration if requests is None else outline(scenario, 0).duration_s
    return kept, count, duration_s


def handle(args: argparse.Namespace) -> int:
    scenario, source = resolve_scenario(args.scenario, args)
    out = Path(args.out)
    closed_loop = scenario.arrival.process == CLOSED_LOOP
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if closed_loop:
            planned = plan_run(scenario)
            plan, duration_s = planned.plan, planned.duration_s
            count = write_jsonl(out, plan)
        else:
            plan, count, duration_s = _write_streamed(scenario, out)
    except TraceError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write ({exc.strerror})") from None
    sampled = count > len(plan)
    summary = preview(plan, plan[-1].offset_s if sampled else duration_s)
    sys.stdout.write(
        f"plan of {source} ({scenario.name}, seed {scenario.seed}): "
        f"{count} requests written to {out}\n"
    )
    if sampled:
        sys.stdout.write(
            f"preview of the first {len(plan):,} requests (to {plan[-1].offset_s:.0f} s of "
            f"{duration_s:.0f} s): the plan is longer than a preview holds\n"
        )
    sys.stdout.write(render_text(summary) + "\n")
    if closed_loop:
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
