"""Bad input gets one clear line on stderr and exit code 2: never a traceback, never a hang."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

GOOD_WORKLOAD = '[[workload]]\nkind = "stream"\n'


def _tokenstorm(*args: str, cwd: Path, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such scenario file"),
        ("duration = [", "not valid TOML"),
        ('duraton = "10s"\n' + GOOD_WORKLOAD, "duraton: unknown field"),
        ('duration = "10 minutes"\n' + GOOD_WORKLOAD, "duration: '10 minutes' is not a duration"),
        ('[[workload]]\nkind = "chatbot"\n', "workload[0]: kind must be one of"),
        ('[target]\napi = "grpc"\n' + GOOD_WORKLOAD, "target.api:"),
        ('[arrival]\nrate = "-3/s"\n' + GOOD_WORKLOAD, "arrival.rate:"),
        (
            '[prices]\nmock-small = { price_as = "gpt-4o-mini", input_per_mtok = 1 }\n'
            + GOOD_WORKLOAD,
            "prices.mock-small: give either price_as or explicit prices",
        ),
        ("", "workload: missing required field"),
    ],
)
def test_bad_scenarios_name_file_and_field(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    scenario = tmp_path / "scenario.toml"
    if content is not None:
        scenario.write_text(content)
    result = _tokenstorm("plan", str(scenario), "--out", str(tmp_path / "p.jsonl"), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(scenario) in lines[0] and expected in lines[0], lines[0]


def test_unreachable_target_fails_fast_with_one_line(tmp_path: Path) -> None:
    port = _closed_port()
    result = _tokenstorm(
        "run",
        "--target",
        f"http://127.0.0.1:{port}/v1",
        "--duration",
        "5s",
        "--out",
        str(tmp_path),
        "--no-progress",
        cwd=tmp_path,
        timeout_s=30,
    )
    assert result.returncode == 2
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_quick_flags_are_named(tmp_path: Path) -> None:
    result = _tokenstorm("run", "--rate", "fast", "--out", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "arrival.rate" in result.stderr and "after applying command-line flags" in result.stderr


def test_report_on_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = _tokenstorm("report", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "manifest.json: missing" in result.stderr and "Traceback" not in result.stderr


def test_mock_rejects_a_bad_fault_profile(tmp_path: Path) -> None:
    faults = tmp_path / "faults.toml"
    faults.write_text('[[rule]]\nkind = "http_429"\nprobability = 1.8\n')
    result = _tokenstorm("mock", "--port", "0", "--faults", str(faults), cwd=tmp_path)
    assert result.returncode == 2
    assert "rule[0].probability" in result.stderr and "Traceback" not in result.stderr
