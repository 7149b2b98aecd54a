"""``tokenstorm plan`` on a plan longer than its preview: the whole plan is written (the same
one the planner builds whole), the preview covers its first requests and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import plan as plan_cli
from harness.cli.main import main
from harness.contract.records import PlannedRequest, read_jsonl
from workloads.planner import build_plan
from workloads.scenario import load_scenario


def test_a_long_plan_is_written_whole_and_previewed_on_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(
        'name = "long"\nseed = 3\nduration = "60s"\n[arrival]\nrate = "5/s"\n'
        '[[workload]]\nkind = "chat"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(plan_cli, "PREVIEW_REQUESTS", 100)
    out = tmp_path / "plan.jsonl"
    assert main(["plan", str(scenario), "--out", str(out)]) == 0
    written = list(read_jsonl(out, PlannedRequest))
    assert written == build_plan(load_scenario(scenario))
    assert len(written) > 300
    printed = capsys.readouterr().out
    assert f"{len(written)} requests written" in printed
    assert "preview of the first 100 requests" in printed
