"""The capacity example, docs/examples/rag-assistant.toml: a RAG assistant with a diurnal curve
and a peak-hour burst that ``plan``, ``sweep`` and ``project`` all take, as docs/capacity.md
shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main
from workloads.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "rag-assistant.toml"


def test_the_example_is_a_rag_day_with_a_peak_hour_an_slo_and_a_projection(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(EXAMPLE)
    assert [w.kind for w in scenario.workload] == ["rag"]
    assert [s.kind for s in scenario.arrival.shape] == ["diurnal", "burst"]
    assert scenario.slo.e2e == 3.0
    assert scenario.projection is not None and scenario.projection.users_per_day == 50_000
    assert main(["plan", str(EXAMPLE), "--out", str(tmp_path / "plan.jsonl")]) == 0
    assert len((tmp_path / "plan.jsonl").read_text().splitlines()) > 100
    capacity = (ROOT / "docs" / "capacity.md").read_text()
    assert "docs/examples/rag-assistant.toml" in capacity


@pytest.mark.slow
def test_sweep_and_project_take_the_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ("--step-duration", "2s", "--start", "1", "--max-steps", "2", "--no-report")
    argv = ["sweep", str(EXAMPLE), "--out", str(tmp_path), "--run-id", "sw", *flags]
    assert main(argv) == 0
    sweep = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert [s["value"] for s in sweep["steps"]] == [1, 2]
    assert sweep["slo"] == ["slo_attainment >= 0.99 of the scenario's [slo]"]
    step = tmp_path / "sw" / sweep["steps"][0]["run"]
    capsys.readouterr()
    assert main(["project", str(step), "--json", "--no-report"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["volume"]["requests"] == 50_000 * 6
    assert document["self_hosted"]["source"] == "mock profile 8b-h100"
    replica = ["--replica-run", str(tmp_path / "sw")]
    assert main(["project", str(step), "--json", "--no-report", *replica]) == 0
    measured = json.loads(capsys.readouterr().out)["self_hosted"]
    assert sweep["result"]["max_rps_meeting_slo"] > 0  # light load: the SLO holds
    assert measured["replica_rps"] == sweep["result"]["max_rps_meeting_slo"]
