"""``tokenstorm project RUN_DIR``: a finished run's traffic priced at a volume (daily, monthly,
per user, with intervals), its cache and retry sensitivity, and a self-hosted comparison.

Writes projection.json and projection.md into the run directory."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.cli.errors import UserError
from harness.contract.capacity import Projection
from harness.contract.config_errors import describe_validation_error
from harness.rebuild import project_run
from harness.report.markdown import markdown_table
from harness.report.projection import plain_table, projection_lines
from harness.stats.run_data import RunDataError, load_run

#: Flag -> [projection] key, by group: a flag of a group replaces the scenario's whole group.
_VOLUME = {
    "users_per_day": "users_per_day",
    "requests_per_user": "requests_per_user",
    "requests_per_day": "requests_per_day",
    "rate": "rate",
    "requests": "requests",
}
_REPLICA = {
    "replica_profile": "replica_profile",
    "replica_rps": "replica_rps",
    "replica_run": "replica_run",
}
_OTHER = (
    "days_per_month",
    "gpu_usd_per_hour",
    "gpus_per_replica",
    "cache_hit_rates",
    "retry_waste",
)


def add_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "project",
        help="cost of a run's traffic at scale: daily, monthly, per user, break-even",
        description="Price a run's measured traffic (tokens per request, cache hits, retry "
        "waste, prices) at a volume, with intervals from the run's own variation. Flags "
        "override the scenario's [projection].",
    )
    parser.add_argument("run_dir", help="a results/<run_id> directory")
    volume = parser.add_argument_group("volume (one of)")
    volume.add_argument("--users-per-day", type=float, metavar="N")
    volume.add_argument("--requests-per-user", type=float, metavar="N", help="with --users-per-day")
    volume.add_argument("--requests-per-day", type=float, metavar="N")
    volume.add_argument(
        "--rate", metavar="RPS", help="sustained requests per second, e.g. 12 or '300/m'"
    )
    volume.add_argument(
        "--requests", type=float, metavar="N", help="a one-off volume of N requests"
    )
    parser.add_argument("--days-per-month", type=float, metavar="D", help="default 30")
    parser.add_argument(
        "--cache-hit-rates", metavar="LIST", help="sensitivity rows, e.g. 0,0.5,0.9"
    )
    parser.add_argument("--retry-waste", metavar="LIST", help="sensitivity columns, e.g. 0,0.1,0.5")
    hosted = parser.add_argument_group("self-hosted replica")
    hosted.add_argument("--gpu-usd-per-hour", type=float, metavar="USD")
    hosted.add_argument("--gpus-per-replica", type=int, metavar="N")
    hosted.add_argument(
        "--replica-profile", metavar="NAME", help="a mock profile (8b-h100, 70b-h100-tp8) or TOML"
    )
    hosted.add_argument("--replica-rps", metavar="RPS", help="a replica's measured throughput")
    hosted.add_argument("--replica-run", metavar="DIR", help="a run or sweep directory")
    parser.add_argument("--json", action="store_true", help="print projection.json instead")
    parser.add_argument("--no-report", action="store_true", help="leave report.html alone")
    parser.set_defaults(handler=handle)


def _numbers(text: str, flag: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{flag} {text!r}: give numbers separated by commas") from None


def settings_from(manifest: dict[str, Any], args: argparse.Namespace) -> Projection:
    """The run's ``[projection]`` with the flags laid over it."""
    scenario = manifest.get("scenario")
    base = scenario.get("projection") if isinstance(scenario, dict) else None
    data: dict[str, Any] = {k: v for k, v in (base or {}).items() if v is not None}
    for group in (_VOLUME, _REPLICA):
        given = {
            group[flag]: getattr(args, flag) for flag in group if getattr(args, flag) is not None
        }
        if given:
            data = {k: v for k, v in data.items() if k not in group.values()} | given
    for flag in _OTHER:
        value = getattr(args, flag)
        if value is not None:
            data[flag] = (
                _numbers(value, f"--{flag.replace('_', '-')}")
                if flag in ("cache_hit_rates", "retry_waste")
                else value
            )
    if not any(key in data for key in _VOLUME.values()):
        raise UserError(
            "give a volume: --users-per-day N --requests-per-user N, --requests-per-day N, "
            "--rate RPS or --requests N (or a [projection] in the scenario)"
        )
    try:
        return Projection.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error("project", exc, prefix=("projection",))) from None


def handle(args: argparse.Namespace) -> int:
    root = Path(args.run_dir)
    try:
        run = load_run(root)
    except RunDataError as exc:
        raise UserError(str(exc)) from None
    settings = settings_from(dict(run.manifest), args)
    try:
        document = project_run(run, settings)
    except ValueError as exc:
        raise UserError(f"{root}: {exc}") from None
    (root / "projection.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    markdown = projection_lines(document, markdown_table)
    (root / "projection.md").write_text("\n".join(markdown) + "\n", encoding="utf-8")
    if not args.no_report:
        from harness.report import write_reports  # jinja2 and matplotlib: only when asked

        write_reports(root, run.summary, list(run.records or ()), run.manifest)
    if args.json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(projection_lines(document, plain_table)) + "\n")
    return 0
