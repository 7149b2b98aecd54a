"""``tokenstorm gate`` on crafted run directories: exit codes, files written, bad budgets → 104."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from harness.cli.main import main

HEALTHY: dict[str, Any] = {
    "run_id": "crafted",
    "valid": True,
    "validity_notes": [],
    "notes": [],
    "schedule_lag_ms": {"p99": 1.0},
    "requests_dropped": 0,
    "client_cpu_share": 0.2,
    "requests_sent": 500,
    "ttft_ms": {"p50": 100.0, "p99": 400.0, "count": 500},
    "error_rate": 0.002,
}
BUDGET = '[thresholds]\n"ttft_ms" = ["p(99) < 800", "p(50) < 300"]\n"error_rate" = "rate < 1%"\n'


def _run_dir(tmp_path: Path, **overrides: Any) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(json.dumps({**HEALTHY, **overrides}))
    return run_dir


def _budget(tmp_path: Path, text: str = BUDGET) -> Path:
    path = tmp_path / "budget.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("overrides", "code", "verdict"),
    [
        ({}, 0, "pass"),
        ({"error_rate": 0.02}, 99, "fail"),
        ({"valid": False, "validity_notes": ["the generator was CPU-bound"]}, 98, "inconclusive"),
    ],
)
def test_exit_code_and_files(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, Any],
    code: int,
    verdict: str,
) -> None:
    run_dir = _run_dir(tmp_path, **overrides)
    assert main(["gate", str(run_dir), "--budget", str(_budget(tmp_path))]) == code
    out = capsys.readouterr().out
    assert f"gate verdict: {verdict.upper()} (exit {code})" in out
    gates = json.loads((run_dir / "gates.json").read_text())
    assert gates["verdict"] == verdict and gates["exit_code"] == code
    suite = ElementTree.parse(run_dir / "junit.xml").getroot()
    assert len(suite.findall("testcase")) == len(gates["results"])
    report_md = (run_dir / "report.md").read_text()
    assert f"### Gates: {verdict.upper()}" in report_md
    assert "p(99) &lt; 800" in report_md
    html = (run_dir / "report.html").read_text()
    assert f"Gates: {verdict.upper()}" in html and "p(99) &lt; 800" in html


BAD_EXPRESSIONS = [
    "p99 < 800",
    "p(99) <",
    "p(99) < 800 parsecs",
    "avg => 3",
    "median < 3",
    "p(99) < baseline",
    "value < 0.3",
    "p(99) < 5%",
    "p(200) < 3",
    "count < 2ms",
]


@pytest.mark.parametrize("expression", BAD_EXPRESSIONS)
def test_every_bad_expression_exits_104_naming_file_key_and_expression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expression: str
) -> None:
    run_dir = _run_dir(tmp_path)
    budget = _budget(tmp_path, f'[thresholds]\n"ttft_ms{{model=m}}" = ["{expression}"]\n')
    assert main(["gate", str(run_dir), "--budget", str(budget)]) == 104
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(budget) in lines[0] and '"ttft_ms{model=m}"' in lines[0]
    assert repr(expression) in lines[0]
    assert not (run_dir / "gates.json").exists()


def test_a_real_process_exits_104_without_a_traceback(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    budget = _budget(tmp_path, '[thresholds]\n"ttft_ms" = ["p(99) < soon"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "gate", str(run_dir), "--budget", str(budget)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 104
    assert "Traceback" not in result.stderr and "'p(99) < soon'" in result.stderr


def test_not_a_run_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", str(tmp_path / "nope"), "--budget", str(_budget(tmp_path))]) == 2
    assert "no such run directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["gate", str(empty), "--budget", str(_budget(tmp_path))]) == 2
    assert "tokenstorm report" in capsys.readouterr().err
