"""``tokenstorm run --target``: against a separately started mock (ledger found by itself) and
against a server that answers garbage (classified in the records, no ledger, no guess)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.contract.records import AttemptRecord, read_jsonl
from mock_models.embedded import LISTENING_PREFIX


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli.main", *args]


@pytest.fixture
def mock_url() -> Iterator[str]:
    process = subprocess.Popen(
        _command("mock", "--port", "0", "--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "8"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith(LISTENING_PREFIX), line
        yield line[len(LISTENING_PREFIX) :]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_run_against_a_running_mock_finds_its_ledger(tmp_path: Path, mock_url: str) -> None:
    result = subprocess.run(
        _command(
            "run",
            "--target",
            f"{mock_url}/v1",
            "--model",
            "anything",
            "--rate",
            "20",
            "--duration",
            "2s",
            "--out",
            str(tmp_path),
            "--run-id",
            "direct",
            "--no-progress",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "direct" / "summary.json").read_text())
    assert summary["requests_sent"] > 20
    assert summary["requests_ok"] == summary["requests_sent"]
    assert summary["upstream_attempts"] == summary["client_attempts"]
    assert summary["retry_amplification"] == 1.0
    manifest = json.loads((tmp_path / "direct" / "manifest.json").read_text())
    assert manifest["ledger_url"] == f"{mock_url}/tokenstorm/ledger"
    assert manifest["ledger_origin"] == "target"
    assert summary["ledger_source"]["upstream"] == "mock"
    assert summary["gateway_overhead_ms"]["count"] == summary["requests_ok"]


class _HtmlHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"<html><body>502 from some proxy</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_run_against_garbage_records_protocol_errors(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        result = subprocess.run(
            _command(
                "run",
                "--target",
                f"http://127.0.0.1:{port}/v1",
                "--rate",
                "10",
                "--duration",
                "1s",
                "--out",
                str(tmp_path),
                "--run-id",
                "garbage",
                "--no-progress",
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "garbage"
    records = list(read_jsonl(run_dir / "records.jsonl", AttemptRecord))
    assert records and {r.outcome for r in records} == {"protocol_error"}
    assert all("text/html" in (r.error_detail or "") for r in records)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["error_rate"] == 1.0
    assert summary["retry_amplification"] is None  # no ledger: never guessed
    assert not (run_dir / "ledger.jsonl").exists()


def test_no_report_writes_the_summary_only_and_never_loads_matplotlib(
    tmp_path: Path, mock_url: str
) -> None:
    # In one process, as a CI loop runs it: the whole run, then what it imported.
    script = (
        "import sys\n"
        "from harness.cli.main import main\n"
        "code = main(sys.argv[1:])\n"
        "loaded = sorted(m for m in ('matplotlib', 'jinja2') if m in sys.modules)\n"
        "print('LOADED', ','.join(loaded))\n"
        "sys.exit(code)\n"
    )
    args = ["run", "--target", f"{mock_url}/v1", "--rate", "10", "--duration", "1s"]
    args += ["--out", str(tmp_path), "--run-id", "ci", "--no-progress", "--no-report"]
    result = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED \n" in result.stdout, result.stdout
    assert "not written (--no-report)" in result.stdout
    run_dir = tmp_path / "ci"
    assert (run_dir / "summary.json").is_file()
    assert not (run_dir / "report.html").exists() and not (run_dir / "report.md").exists()
    later = subprocess.run(
        _command("report", str(run_dir)), capture_output=True, text=True, timeout=60
    )
    assert later.returncode == 0, later.stderr
    assert (run_dir / "report.html").is_file() and (run_dir / "report.md").is_file()


def test_run_with_requests_sends_exactly_that_many(tmp_path: Path, mock_url: str) -> None:
    result = subprocess.run(
        _command(
            "run",
            "--target",
            f"{mock_url}/v1",
            "--rate",
            "40",
            "--requests",
            "12",
            "--out",
            str(tmp_path),
            "--run-id",
            "twelve",
            "--no-progress",
            "--no-report",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "twelve" / "summary.json").read_text())
    assert summary["requests_planned"] == summary["requests_sent"] == 12
    # The steady phase is the plan's (about 12 / 40 s), not the quick flags' 30 s default.
    assert summary["duration_s"] < 2.0
    manifest = json.loads((tmp_path / "twelve" / "manifest.json").read_text())
    assert manifest["scenario"]["arrival"]["requests"] == 12
    assert manifest["scenario"]["duration"] == summary["duration_s"]
