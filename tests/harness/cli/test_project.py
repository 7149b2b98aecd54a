"""``tokenstorm project``: at the run's own volume it gives back the run's own cost to the cent;
a scenario's ``[projection]`` lands in the reports; mistakes are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main

SCENARIO = """
name = "priced"
duration = "2s"
drain = "3s"
[client.retry]
attempts = 3
backoff = { base = "10ms", max = "50ms", jitter = 0 }
honor_retry_after = false
[arrival]
process = "constant"
rate = "25/s"
[[workload]]
kind = "stream"
prompt_tokens = { dist = "lognormal", median = 300, sigma = 0.8 }
shared_prefix_share = 0.5
max_tokens = 40
[[workload]]
kind = "chat"
turns = 2
think_time = "50ms"
max_tokens = 30
[mock]
faults = "demo"
[[mock.deployments]]
name = "small-fast"
model = "mock-small"
profile = "8b-h100"
[projection]
users_per_day = 50000
requests_per_user = 12
gpu_usd_per_hour = 2.5
replica_profile = "8b-h100"
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The run, and its projection and reports as the run wrote them (``project`` rewrites)."""
    folder = tmp_path_factory.mktemp("project")
    path = folder / "priced.toml"
    path.write_text(SCENARIO)
    code = main(["run", str(path), "--out", str(folder), "--run-id", "r", "--no-progress"])
    assert code == 0
    files = ("projection.json", "report.html", "report.md")
    return folder / "r", {name: (folder / "r" / name).read_text() for name in files}


@pytest.fixture
def run_dir(written: tuple[Path, dict[str, str]]) -> Path:
    return written[0]


def _project(run_dir: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["project", str(run_dir), "--json", "--no-report", *flags]) == 0
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


@pytest.mark.slow
def test_the_run_own_volume_gives_back_the_run_own_cost_to_the_cent(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    cost, sent = summary["cost_usd_total"], summary["requests_sent"]
    assert summary["wasted_cost_usd"] > 0  # retries and cut streams: there is waste to carry
    once = _project(run_dir, capsys, "--requests", str(sent))
    total = once["figures"]["total"]  # type: ignore[index]
    assert round(total["usd"], 2) == round(cost, 2)
    assert total["usd"] == pytest.approx(cost, rel=1e-12)
    assert total["low_usd"] <= cost <= total["high_usd"]
    rate = _project(run_dir, capsys, "--rate", repr(summary["achieved_rps"]))
    daily = rate["figures"]["daily"]["usd"]  # type: ignore[index]
    assert daily * summary["duration_s"] / 86_400 == pytest.approx(cost, rel=1e-12)
    assert rate["run"]["cache_hit_rate"] > 0  # type: ignore[index]  # the shared prefix hits


@pytest.mark.slow
def test_a_scenario_projection_lands_in_the_reports(
    written: tuple[Path, dict[str, str]],
) -> None:
    files = written[1]
    document = json.loads(files["projection.json"])
    assert document["volume"]["requests"] == 600_000
    assert document["self_hosted"]["source"] == "mock profile 8b-h100"
    assert document["self_hosted"]["replica_rps"] > 0
    html = files["report.html"]
    assert "Cost at scale" in html and "monthly cost" in html and "break-even" in html
    assert "Cost at scale" in files["report.md"]


@pytest.mark.slow
def test_flags_override_the_scenario_and_mistakes_are_one_line(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosted = _project(run_dir, capsys, "--requests-per-day", "1000", "--replica-rps", "3")
    assert hosted["volume"]["requests"] == 1000  # type: ignore[index]
    assert hosted["self_hosted"]["replica_rps"] == 3  # type: ignore[index]
    capsys.readouterr()
    assert main(["project", str(run_dir), "--users-per-day", "10", "--requests", "5"]) == 2
    error = capsys.readouterr().err
    assert "give users_per_day and requests_per_user together" in error
    assert error.count("\n") == 1
    assert main(["project", str(run_dir.parent / "nope"), "--requests", "5"]) == 2
