"""``tokenstorm sweep`` end to end on the embedded mock: the knee it finds agrees with queueing
theory for a mock of known slots and service time; a step the starved client could not hold
ends the sweep and is never reported as the limit; steps are run directories that ``gate``
and ``compare`` accept."""

from __future__ import annotations

import heapq
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main
from harness.cli.sweep_steps import step_scenario
from workloads.planner import build_plan
from workloads.scenario import parse_scenario

SLOTS, STEP_MS, TOKENS = 4, 10.0, 10
KNEE = f"""
name = "knee"
duration = "1.5s"
drain = "2s"
seed = 3
[arrival]
process = "poisson"
rate = "30/s"
[[workload]]
kind = "stream"
prompt_tokens = 8
max_tokens = {TOKENS}
[mock]
[[mock.deployments]]
name = "slots"
model = "mock-small"
jitter = 0
output_tokens = {TOKENS}
output_tokens_sigma = 0
[mock.deployments.engine]
max_num_seqs = {SLOTS}
step_base_ms = {STEP_MS}
prefill_ms_per_token = 0
decode_ms_per_seq = 0
api_overhead_ms = 0
"""
SLO_MS = 250.0

STARVED = """
name = "starved"
duration = "0.3s"
drain = "1s"
[arrival]
process = "constant"
rate = "50/s"
[[workload]]
kind = "stream"
prompt_tokens = 4
max_tokens = 4
[mock]
[[mock.deployments]]
name = "fast"
model = "mock-small"
ttft_ms = 1
itl_ms = 1
jitter = 0
output_tokens = 4
output_tokens_sigma = 0
"""


def _planned_p99_e2e_ms(rate: float) -> float:
    """p99 E2E of the plan a step at ``rate`` sends, through ``SLOTS`` FIFO servers.

    The mock holds a slot for exactly ``TOKENS`` steps (the prefill step emits the first
    token, each later step one more), so the service time is ``TOKENS * STEP_MS``; a request
    that finds the engine busy joins at the next step boundary, on average half a step on.
    """
    scenario = parse_scenario(tomllib.loads(KNEE))
    plan = build_plan(step_scenario(scenario, "rate", rate, 0, scenario.duration, {}))
    service_s = TOKENS * STEP_MS / 1000
    free_s = [0.0] * SLOTS
    e2e_ms = []
    for request in plan:
        start_s = max(request.offset_s, heapq.heappop(free_s))
        heapq.heappush(free_s, start_s + service_s)
        e2e_ms.append((start_s - request.offset_s + service_s) * 1000 + STEP_MS / 2)
    return float(np.quantile(e2e_ms, 0.99))


def _theory_knee() -> float:
    """The offered load at which the planned queueing delay makes p99 E2E cross the SLO."""
    low, high = 1.0, 10.0 * SLOTS / (TOKENS * STEP_MS / 1000)
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if _planned_p99_e2e_ms(middle) < SLO_MS else (low, middle)
    return low


def _sweep(tmp_path: Path, text: str, *flags: str) -> tuple[int, dict[str, object]]:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    code = main(["sweep", str(path), "--out", str(tmp_path), "--run-id", "sw", *flags])
    return code, json.loads((tmp_path / "sw" / "sweep.json").read_text())


@pytest.mark.slow
@pytest.mark.timing  # real mock service times: a loaded machine can make a step invalid
def test_the_knee_agrees_with_queueing_theory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budget = tmp_path / "budget.toml"
    budget.write_text('[sweep]\n"max_rate_meeting_slo" = ["value >= 20"]\n')
    code, document = _sweep(
        tmp_path,
        KNEE,
        "--slo",
        f"e2e_ms p(99) < {SLO_MS:g}ms",
        *("--start", "30", "--growth", "1.5", "--tolerance", "0.05"),
        *("--frontier", "e2e=150ms,250ms", "--budget", str(budget)),
    )
    assert code == 0
    result = document["result"]
    assert isinstance(result, dict)
    theory = _theory_knee()
    assert result["bound"] == "converged"
    assert abs(result["max_rate_meeting_slo"] - theory) <= 0.10 * theory, (result, theory)
    steps = document["steps"]
    assert isinstance(steps, list) and all(s["outcome"] != "invalid" for s in steps)
    assert 4 <= len(steps) <= 8
    folder = tmp_path / "sw"
    assert (folder / "sweep.html").read_text().count("<svg") == 2
    assert "highest load meeting the SLO" in (folder / "sweep.md").read_text()
    # Every step is a normal run directory: gate and compare take it.
    first, second = (folder / s["run"] for s in steps[:2])
    (tmp_path / "run-budget.toml").write_text('[thresholds]\n"error_rate" = ["rate < 1%"]\n')
    assert main(["gate", str(first), "--budget", str(tmp_path / "run-budget.toml")]) == 0
    out = tmp_path / "cmp"
    assert main(["compare", str(first), str(second), "--out", str(out), "--force"]) == 0
    assert (out / "comparison.md").exists()
    assert json.loads((first / "gates.json").read_text())["verdict"] == "pass"
    capsys.readouterr()


@pytest.mark.slow
@pytest.mark.timing  # the first step must hold 50/s: a loaded machine can fail it
def test_a_step_the_starved_client_could_not_hold_is_never_the_limit(tmp_path: Path) -> None:
    budget = tmp_path / "budget.toml"
    budget.write_text('[sweep]\n"max_rate_meeting_slo" = ["value >= 40", "value >= 100"]\n')
    # 50/s, then 20,000/s: 6,000 requests in 0.3 s, far past what one client core can send.
    flags = ("--slo", "e2e_ms p(99) < 1s", "--growth", "400", "--no-report")
    code, document = _sweep(tmp_path, STARVED, *flags, "--budget", str(budget))
    steps = document["steps"]
    result = document["result"]
    assert isinstance(steps, list) and isinstance(result, dict)
    assert [s["outcome"] for s in steps] == ["meets", "invalid"]
    starved = json.loads((tmp_path / "sw" / steps[1]["run"] / "summary.json").read_text())
    assert starved["valid"] is False
    assert result["max_rate_meeting_slo"] == 50 and result["bound"] == "at_least"
    assert result["limited_by"] == "rig" and result["invalid_run"] == steps[1]["run"]
    gates = json.loads((tmp_path / "sw" / "gates.json").read_text())
    assert [r["verdict"] for r in gates["results"]] == ["pass", "inconclusive"]
    assert code == 98


@pytest.mark.slow
@pytest.mark.timing  # every step must be valid: a loaded machine can fail one
def test_a_concurrency_sweep_walks_whole_sessions(tmp_path: Path) -> None:
    # A closed loop against a target answering in 5 ms keeps the client's core busy (the run
    # is rightly invalid): answers take 50 ms here, so the client mostly waits.
    slower = STARVED.replace("ttft_ms = 1", "ttft_ms = 50").replace('"0.3s"', '"0.5s"')
    flags = ("--by", "concurrency", "--start", "1", "--top", "3", "--no-report")
    code, document = _sweep(tmp_path, slower, "--slo", "e2e_ms p(99) < 1s", *flags)
    assert code == 0
    steps = document["steps"]
    result = document["result"]
    assert isinstance(steps, list) and isinstance(result, dict)
    assert [s["value"] for s in steps] == [1, 2, 3]
    assert result["max_concurrency_meeting_slo"] == 3 and result["limited_by"] == "top"
    assert result["max_rate_meeting_slo"] is None and result["max_rps_meeting_slo"] > 0
    summary = json.loads((tmp_path / "sw" / steps[2]["run"] / "summary.json").read_text())
    assert summary["concurrency"] == 3
