"""Abort-on-fail on a latency, on real runs against the embedded mock: a slow mock trips
``p(99)`` of TTFT within seconds of a 30 s run (the report still written, exit 99, the row
naming the check and its observed value); a fast mock under the same budget runs its course."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main

# Its verdicts need the run to keep its schedule: run alone, not beside other tests.
pytestmark = pytest.mark.serial

DURATION_S = 30.0
BUDGET = (
    '[thresholds]\n"ttft_ms{tenant=acme}" = [{ threshold = "p(99) < 100", '
    'abort_on_fail = true, delay_abort_eval = "1s", abort_min_samples = 10 }]\n'
)


def _scenario(ttft_ms: float, duration_s: float) -> str:
    return (
        f'name = "abort-latency"\nseed = 5\nduration = "{duration_s:g}s"\ndrain = "2s"\n'
        'arrival = { process = "poisson", rate = "30/s" }\n'
        'workload = [{ kind = "stream", prompt_tokens = 50, max_tokens = 4, '
        'tags = { tenant = "acme" } }]\n'
        '[mock]\ndeployments = [{ name = "only", model = "mock-small", '
        f"ttft_ms = {ttft_ms}, itl_ms = 1, output_tokens = 4, output_tokens_sigma = 0 }}]\n"
    )


def _run(tmp_path: Path, run_id: str, ttft_ms: float, duration_s: float) -> int:
    (tmp_path / f"{run_id}.toml").write_text(_scenario(ttft_ms, duration_s))
    (tmp_path / "budget.toml").write_text(BUDGET)
    return main(
        [
            "run",
            str(tmp_path / f"{run_id}.toml"),
            "--out",
            str(tmp_path),
            "--run-id",
            run_id,
            "--no-progress",
            "--budget",
            str(tmp_path / "budget.toml"),
        ]
    )


@pytest.mark.slow
def test_a_slow_mock_trips_a_latency_abort_and_a_fast_one_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(tmp_path, "slow", 250.0, DURATION_S)
    out = capsys.readouterr().out
    assert code == 99, out
    manifest = json.loads((tmp_path / "slow" / "manifest.json").read_text())
    aborted = manifest["aborted"]
    assert aborted["metric"] == "ttft_ms{tenant=acme}" and aborted["limit"] == 100.0
    assert aborted["observed"] >= 200.0 and aborted["samples"] >= 10
    assert aborted["at_s"] >= 1.0 and manifest["wall_s"] < DURATION_S / 2
    gates = json.loads((tmp_path / "slow" / "gates.json").read_text())
    row = next(r for r in gates["results"] if "abort_on_fail" in r["detail"])
    assert row["verdict"] == "fail" and row["unit"] == "ms"
    assert row["observed"] == aborted["observed"]
    assert "aborted at" in out and "ttft_ms{tenant=acme}" in out
    assert (tmp_path / "slow" / "report.html").exists()
    assert _run(tmp_path, "fast", 5.0, 1.5) == 0, capsys.readouterr().out
    assert "aborted" not in json.loads((tmp_path / "fast" / "manifest.json").read_text())
