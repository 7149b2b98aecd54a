"""Abort-on-fail on real runs against the embedded mock: a failing budget stops a 30 s run
within seconds and still leaves the summary, the reports, gates.json and junit.xml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main

# Its verdicts need the run to keep its schedule: run alone, not beside other tests.
pytestmark = pytest.mark.serial

DURATION_S = 30.0
RATE_PER_S = 30


def _scenario(http_500: float) -> str:
    return (
        f'name = "abort"\nseed = 5\nduration = "{DURATION_S:g}s"\ndrain = "2s"\n'
        f'arrival = {{ process = "poisson", rate = "{RATE_PER_S}/s" }}\n'
        'workload = [{ kind = "stream", prompt_tokens = 50, max_tokens = 4 }]\n'
        '[mock]\ndeployments = [{ name = "only", model = "mock-small", ttft_ms = 5, '
        "itl_ms = 1, output_tokens = 4, output_tokens_sigma = 0 }]\n"
        f'faults = {{ rule = [{{ kind = "http_500", probability = {http_500} }}] }}\n'
    )


def _run(tmp_path: Path, run_id: str, http_500: float, budget: str) -> tuple[int, str]:
    scenario = tmp_path / f"{run_id}.toml"
    scenario.write_text(_scenario(http_500))
    budget_file = tmp_path / f"{run_id}-budget.toml"
    budget_file.write_text(budget)
    code = main(
        [
            "run",
            str(scenario),
            "--out",
            str(tmp_path),
            "--run-id",
            run_id,
            "--no-progress",
            "--budget",
            str(budget_file),
        ]
    )
    return code, run_id


def _json(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.mark.slow
def test_a_breached_count_stops_the_run_early_and_still_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = (
        '[thresholds]\n"ttft_ms" = ["p(99) < 2s"]\n'
        '"requests_failed" = [{ threshold = "count < 10", abort_on_fail = true }]\n'
    )
    code, run_id = _run(tmp_path, "failing", 0.5, budget)
    out = capsys.readouterr().out
    assert code == 99, out
    run = tmp_path / run_id
    manifest = _json(run / "manifest.json")
    aborted = manifest["aborted"]
    assert aborted["metric"] == "requests_failed" and aborted["observed"] >= 10
    assert manifest["interrupted"] is False
    assert manifest["wall_s"] < DURATION_S / 2  # stopped long before the planned end
    summary = _json(run / "summary.json")
    # The plan is drawn as the run goes, so it holds the sessions drawn before the stop:
    # every one of them recorded, and far fewer than the 30/s × 30 s the scenario asks for.
    assert summary["requests_sent"] <= summary["requests_planned"] < RATE_PER_S * DURATION_S / 2
    assert summary["requests_failed"] >= aborted["observed"]
    gates = _json(run / "gates.json")
    assert gates["verdict"] == "fail"
    assert any("abort_on_fail stopped the run" in r["detail"] for r in gates["results"])
    assert (run / "junit.xml").exists() and (run / "report.html").exists()
    assert "### Gates: FAIL" in (run / "report.md").read_text()
    assert "aborted at" in out


@pytest.mark.slow
def test_a_rate_waits_for_its_samples_and_a_healthy_run_is_not_aborted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = (
        '[thresholds]\n"error_rate" = [{ threshold = "rate < 5%", abort_on_fail = true, '
        "abort_min_samples = 30 }]\n"
    )
    code, run_id = _run(tmp_path, "rate", 0.5, budget)
    assert code == 99, capsys.readouterr().out
    aborted = _json(tmp_path / run_id / "manifest.json")["aborted"]
    assert aborted["samples"] >= 30 and aborted["observed"] >= 0.05
    quick = _scenario(0.0).replace(f'duration = "{DURATION_S:g}s"', 'duration = "1.5s"')
    (tmp_path / "healthy.toml").write_text(quick)
    (tmp_path / "b.toml").write_text(budget)
    code = main(
        [
            "run",
            str(tmp_path / "healthy.toml"),
            "--out",
            str(tmp_path),
            "--run-id",
            "healthy",
            "--no-progress",
            "--budget",
            str(tmp_path / "b.toml"),
        ]
    )
    assert code == 0, capsys.readouterr().out
    assert "aborted" not in _json(tmp_path / "healthy" / "manifest.json")
