"""``tokenstorm run --concurrency N`` against the embedded mock: never more than N requests in
flight, the plan is what was drawn, and the summary says what a closed loop hides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import build_parser, main
from harness.cli.scenario_source import resolve_scenario
from harness.contract.records import AttemptRecord, PlannedRequest, read_jsonl
from harness.engine_config import LiveStats
from harness.progress import status_line

SCENARIO = """
name = "closed"
duration = "1s"
drain = "2s"
[arrival]
process = "constant"
rate = "50/s"
[[workload]]
kind = "stream"
prompt_tokens = 20
max_tokens = 8
[mock]
[[mock.deployments]]
name = "d"
model = "mock-small"
ttft_ms = 30
itl_ms = 5
jitter = 0
output_tokens = 8
output_tokens_sigma = 0
"""


def _most_in_flight(records: list[AttemptRecord]) -> int:
    edges = sorted(
        [(r.sent_s, 1) for r in records if r.sent_s is not None]
        + [(r.done_s, -1) for r in records if r.done_s is not None and r.sent_s is not None]
    )
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


@pytest.mark.slow
def test_concurrency_keeps_n_in_flight_and_says_what_it_hides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "closed.toml"
    path.write_text(SCENARIO)
    argv = ["run", str(path), "--concurrency", "3", "--requests", "30", "--out", str(tmp_path)]
    code = main([*argv, "--run-id", "c3", "--no-progress", "--no-report"])
    assert code == 0
    assert "coordinated omission" in capsys.readouterr().out
    run_dir = tmp_path / "c3"
    plan = list(read_jsonl(run_dir / "plan.jsonl", PlannedRequest))
    records = list(read_jsonl(run_dir / "records.jsonl", AttemptRecord))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(plan) == 30 == summary["requests_ok"]
    assert {r.request_id for r in records} == {p.request_id for p in plan}
    assert _most_in_flight(records) == 3
    assert summary["concurrency"] == 3 and summary["target_rps"] is None
    # Open-ended (requests, no duration): the steady phase is what the 30 requests took,
    # about 10 waves of 3 answers of 65 ms.
    assert 0.5 < summary["duration_s"] < 1.5
    assert summary["achieved_rps"] == pytest.approx(30 / summary["duration_s"])
    note = next(n for n in summary["notes"] if n.startswith("closed loop"))
    assert "Open loop is the default" in note
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["scenario"]["arrival"]["concurrency"] == 3


def test_the_flag_replaces_the_arrival_process_and_refuses_a_rate(tmp_path: Path) -> None:
    path = tmp_path / "closed.toml"
    path.write_text(SCENARIO)
    args = build_parser("run").parse_args(["run", str(path), "--concurrency", "7"])
    scenario, _ = resolve_scenario(args.scenario, args)
    assert (scenario.arrival.process, scenario.arrival.concurrency) == ("concurrency", 7)
    both = build_parser("run").parse_args(["run", str(path), "--concurrency", "7", "--rate", "3"])
    with pytest.raises(Exception, match="not both"):
        resolve_scenario(both.scenario, both)


def test_the_status_line_leaves_out_what_a_closed_loop_does_not_know() -> None:
    stats = LiveStats(sent=12)
    assert "sent 12  " in status_line(stats, 3.0, None, None)
    assert "3.0 s" in status_line(stats, 3.0, None, None)
    assert "sent 12/40" in status_line(stats, 3.0, 10.0, 40)
