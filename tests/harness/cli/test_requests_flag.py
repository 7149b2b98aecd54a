"""``--requests N``: the quick flag sets ``[arrival] requests`` and, without ``--duration``,
lifts the scenario's duration so that the run plans exactly N requests."""

from __future__ import annotations

from pathlib import Path

from harness.cli.main import build_parser
from harness.cli.scenario_source import resolve_scenario
from workloads.planner import plan_run
from workloads.scenario import Scenario

SCENARIO = """
name = "short"
duration = "1s"
[arrival]
process = "constant"
rate = "10/s"
[[workload]]
kind = "stream"
"""


def _resolve(*argv: str) -> Scenario:
    args = build_parser("run").parse_args(["run", *argv])
    scenario, _ = resolve_scenario(args.scenario, args)
    return scenario


def test_requests_without_duration_plans_exactly_n_past_the_file_duration(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text(SCENARIO)
    scenario = _resolve(str(path), "--requests", "25")
    planned = plan_run(scenario)
    # The file says 1 s (10 requests at 10/s); --requests 25 asks for 25.
    assert len(planned.plan) == 25
    assert planned.duration_s == 2.5


def test_requests_with_duration_stops_at_whichever_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text(SCENARIO)
    planned = plan_run(_resolve(str(path), "--requests", "25", "--duration", "2s"))
    assert len(planned.plan) == 20 and planned.duration_s == 2.0
    planned = plan_run(_resolve(str(path), "--requests", "5", "--duration", "2s"))
    assert len(planned.plan) == 5 and planned.duration_s == 0.5
