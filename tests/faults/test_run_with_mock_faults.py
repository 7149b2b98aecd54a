"""``tokenstorm run`` of a scenario whose embedded mock carries a fault profile with a short
window: the windows reach the manifest, the summary and both reports (shaded charts, a before /
during / after table); inside the window the attempts' outcomes are the faults' own, outside
it every attempt is ok; every planned request is recorded; the ledger agrees with the records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faults.catalogue import CATALOGUE, FaultKind
from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest, read_jsonl

START_S, END_S = 1.5, 3.0
#: The run tells its embedded mock its start, so the window runs on the run clock; a little
#: slack covers the time between reading that clock and the mock receiving it.
SLACK_S = 0.3

PROFILE = f"""
description = "a short brownout"

[[rule]]
kind = "http_503"
probability = 0.5
window = {{ start = "{START_S}s", end = "{END_S}s" }}

[[rule]]
kind = "cut"
probability = 0.3
window = {{ start = "{START_S}s", end = "{END_S}s" }}
params = {{ after_tokens = 2 }}
"""

SCENARIO = """
name = "short-brownout"
seed = 3
duration = "6.5s"
drain = "2s"

[target]
api = "openai-chat"
model = "mock-small"
timeout = "3s"
stream = true

[arrival]
process = "constant"
rate = "20/s"

[[workload]]
kind = "stream"
prompt_tokens = 40
max_tokens = 8

[mock]
faults = "{profile}"

[[mock.deployments]]
name = "small"
model = "mock-small"
ttft_ms = 5
itl_ms = 2
jitter = 0
output_tokens = 8
output_tokens_sigma = 0
"""


@pytest.mark.slow
def test_a_windowed_profile_on_the_embedded_mock_end_to_end(tmp_path: Path) -> None:
    profile = tmp_path / "short-brownout.toml"
    profile.write_text(PROFILE)
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO.format(profile=profile))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli.main",
            "run",
            str(scenario),
            "--out",
            str(tmp_path),
            "--run-id",
            "brownout",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "brownout"

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [rule["kind"] for rule in manifest["fault_profile"]["rule"]] == ["http_503", "cut"]
    assert manifest["run_start_announced"] is True

    plan = list(read_jsonl(run_dir / "plan.jsonl", PlannedRequest))
    records = list(read_jsonl(run_dir / "records.jsonl", AttemptRecord))
    assert sorted(r.request_id for r in records) == sorted(p.request_id for p in plan)

    hit = [r for r in records if r.fault is not None]
    assert {r.fault for r in hit} == {"http_503", "cut"}
    for record in records:
        assert record.sent_s is not None
        if record.fault is None:
            assert record.outcome == "ok", record
        else:
            assert record.outcome == CATALOGUE[FaultKind(record.fault)].outcome_stream, record
            assert START_S - SLACK_S <= record.sent_s <= END_S + SLACK_S, record

    ledger = {
        (e.request_id, e.attempt): e for e in read_jsonl(run_dir / "ledger.jsonl", LedgerEntry)
    }
    assert len(ledger) == len(records)
    for record in records:
        entry = ledger[(record.request_id, record.attempt)]
        assert (entry.fault, entry.outcome) == (record.fault, record.outcome)

    summary = json.loads((run_dir / "summary.json").read_text())
    [window] = summary["fault_windows"]
    assert (window["start_s"], window["end_s"], window["label"]) == (START_S, END_S, "cut+http_503")
    assert window["offset_s"] == 0.0  # the mock was told the run's start
    # Before and after it, only attempts sent within the clocks' slack of an edge may fail.
    near_start = sum(START_S - SLACK_S <= r.sent_s < START_S for r in records)  # type: ignore[operator]
    near_end = sum(END_S <= r.sent_s <= END_S + SLACK_S for r in records)  # type: ignore[operator]
    for phase, near in (("before", near_start), ("after", near_end)):
        figures = window[phase]
        assert figures["attempts"] > 0
        assert round(figures["error_rate"] * figures["attempts"]) <= near, phase
    assert window["during"]["error_rate"] > 0.4  # 80 % of attempts in it meet a fault
    assert window["recovery_s"] is not None

    markdown = (run_dir / "report.md").read_text()
    assert "### Fault windows" in markdown and "cut+http_503 1.5–3 s" in markdown
    for phase in ("before", "during", "after"):
        assert f"| {phase} |" in markdown
    html = (run_dir / "report.html").read_text()
    assert "<h2>Fault windows</h2>" in html
    assert html.count("fault window") >= 3  # shaded in the legend of the three time charts
