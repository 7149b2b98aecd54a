"""``tokenstorm run`` end to end: the built-in demo, a stopped run, a killed run, a bad target."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest, read_jsonl

SECRET = "sk-tokenstorm-test-secret-0123456789"
RUN_FILES = (
    "manifest.json",
    "plan.jsonl",
    "records.jsonl",
    "ledger.jsonl",
    "summary.json",
    "report.html",
    "report.md",
)


def _env() -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": SECRET, "PYTHONUNBUFFERED": "1"}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli.main", *args]


@pytest.mark.slow
def test_default_run_writes_every_file_and_a_consistent_summary(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        _command("run", "--out", str(tmp_path), "--run-id", "demo-e2e"),
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=tmp_path,
    )
    elapsed_s = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed_s < 60
    run_dir = tmp_path / "demo-e2e"
    for name in RUN_FILES:
        assert (run_dir / name).stat().st_size > 0, name
    for needle in ("requests", "TTFT", "E2E", "cost", "retry amp.", "report.html"):
        assert needle in result.stdout

    plan = list(read_jsonl(run_dir / "plan.jsonl", PlannedRequest))
    records = list(read_jsonl(run_dir / "records.jsonl", AttemptRecord))
    ledger = list(read_jsonl(run_dir / "ledger.jsonl", LedgerEntry))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {r.request_id for r in records} == {p.request_id for p in plan}
    sent = [r for r in records if r.sent_s is not None]
    assert summary["client_attempts"] == len(sent)
    # every attempt the client sent reached the mock, and nothing else did
    assert summary["upstream_attempts"] == len(ledger) == len(sent)
    # the demo injects 429/5xx and the client retries them: amplification above 1
    assert summary["client_retries"] > 0
    assert summary["retry_amplification"] == pytest.approx(len(ledger) / summary["requests_sent"])
    assert summary["retry_amplification"] > 1.0
    assert summary["cost_source"] == "ledger" and summary["cost_usd_total"] > 0
    assert summary["requests_ok"] > 0.8 * summary["requests_sent"]
    for record in sent:
        assert record.scheduled_s <= record.sent_s + 1e-6  # never sent early
    # the API key never reaches a file the run wrote
    for path in (p for p in run_dir.rglob("*") if p.is_file()):
        assert SECRET.encode() not in path.read_bytes(), path.name

    rebuilt = subprocess.run(
        _command("report", str(run_dir)), capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    again = json.loads((run_dir / "summary.json").read_text())
    assert again == summary


def _scenario(tmp_path: Path, duration: str) -> Path:
    scenario = tmp_path / "long.toml"
    scenario.write_text(f"""
name = "long"
duration = "{duration}"
drain = "20s"
[arrival]
process = "constant"
rate = "10/s"
[[workload]]
kind = "stream"
prompt_tokens = 100
max_tokens = 400
[[mock.deployments]]
name = "slow"
model = "mock-small"
ttft_ms = 50
itl_ms = 20
output_tokens = 400
output_tokens_sigma = 0
""")
    return scenario


def _start(tmp_path: Path, scenario: Path, run_id: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        _command("run", str(scenario), "--out", str(tmp_path), "--run-id", run_id, "--no-progress"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    records = tmp_path / run_id / "records.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not records.exists() or records.stat().st_size == 0):
        time.sleep(0.1)
    assert records.exists(), "the run never started writing records"
    return process


@pytest.mark.slow
def test_ctrl_c_stops_drains_and_still_reports(tmp_path: Path) -> None:
    process = _start(tmp_path, _scenario(tmp_path, "60s"), "stopped")
    time.sleep(1.0)
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert time.monotonic() - stopped_at < 15  # grace 5 s, then report
    assert "Traceback" not in err
    run_dir = tmp_path / "stopped"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (run_dir / "report.html").exists()
    assert 0 < summary["requests_sent"] < summary["requests_planned"]
    assert any("stopped before its planned end" in n for n in summary["notes"])


@pytest.mark.slow
def test_killed_run_leaves_readable_records_for_report(tmp_path: Path) -> None:
    process = _start(tmp_path, _scenario(tmp_path, "60s"), "killed")
    time.sleep(1.5)
    process.kill()
    process.communicate(timeout=30)
    run_dir = tmp_path / "killed"
    # the embedded mock died with the harness instead of lingering on its port
    port = urlsplit(json.loads((run_dir / "manifest.json").read_text())["target_url"]).port
    assert port is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the embedded mock outlived the killed run")
    records = list(read_jsonl(run_dir / "records.jsonl", AttemptRecord))
    assert records
    result = subprocess.run(
        _command("report", str(run_dir)), capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["client_attempts"] == sum(1 for r in records if r.sent_s is not None)
    assert any("did not finish" in n for n in summary["notes"])
