"""``tokenstorm report``'s rebuild adds the ``soak`` object: a run directory synthesised from an
hour of the mock's latency draws with its ITL growing 1 % a minute in; ``summary.json`` calling
it degrading out (``tests/harness/report/test_soak_report.py`` renders such a summary)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from harness.cli.scenario_source import demo_scenario_text
from harness.contract.records import write_jsonl
from harness.rebuild import rebuild_run
from harness.run_dir import RunPaths
from tests.harness.stats.soak_records import mock_run


def test_report_rebuilds_a_soak_verdict_from_the_records(tmp_path: Path) -> None:
    scenario = tomllib.loads(demo_scenario_text())
    scenario["duration"] = 3600.0
    paths = RunPaths(tmp_path)
    paths.manifest.write_text(json.dumps({"run_id": "soak", "scenario": scenario}))
    write_jsonl(paths.records, mock_run(0.01, minutes=60.0, rps=0.5))
    summary = rebuild_run(paths, reports=False)
    soak = summary["soak"]
    assert soak["verdict"] == "degrading" and soak["trends"]["e2e_ms_p99"]["direction"] == "rising"
    assert json.loads(paths.summary.read_text())["soak"]["verdict"] == "degrading"
    assert soak["windows"][0]["requests_per_s"] == 0.5
