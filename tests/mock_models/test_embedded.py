"""The mock as a child process: start, serve, stop; and its command line."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from mock_models.__main__ import main, settings_from_args
from mock_models.embedded import EmbeddedMock, MockStartError
from mock_models.settings import MockSettings, constant_settings


def test_embedded_mock_serves_and_stops(tmp_path: Path) -> None:
    ledger_file = tmp_path / "ledger.jsonl"
    mock = EmbeddedMock(constant_settings(ttft_ms=0, itl_ms=0, output_tokens=3), ledger_file)
    with mock:
        pid = mock.pid
        assert mock.base_url.startswith("http://127.0.0.1:")
        assert mock.api_url == mock.base_url + "/v1"
        with urllib.request.urlopen(mock.base_url + "/health", timeout=5) as response:
            assert orjson.loads(response.read()) == {"status": "ok"}
        request = urllib.request.Request(
            mock.api_url + "/chat/completions",
            method="POST",
            data=orjson.dumps({"model": "x", "messages": [{"role": "user", "content": "hi"}]}),
            headers={"content-type": "application/json", "x-tokenstorm-request-id": "e1"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert orjson.loads(response.read())["usage"]["completion_tokens"] == 3
        with urllib.request.urlopen(mock.ledger_url, timeout=5) as response:
            assert orjson.loads(response.read().splitlines()[0])["request_id"] == "e1"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert b'"request_id":"e1"' in ledger_file.read_bytes()
    with pytest.raises(RuntimeError):
        _ = mock.base_url


def test_embedded_mock_names_a_failed_start(tmp_path: Path) -> None:
    # A ledger file in a missing directory makes the child fail before it listens.
    mock = EmbeddedMock(MockSettings(), tmp_path / "missing" / "ledger.jsonl", start_timeout_s=10)
    with pytest.raises(MockStartError, match=r"exited before listening.*ledger\.jsonl"):
        mock.start()


def test_command_line_rejects_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    bad = MockSettings().model_dump()
    bad["faults"] = {"rule": [{"kind": "http_429", "probability": 1.8}]}
    assert main(["--port", "0", "--config-json", orjson.dumps(bad).decode()]) == 2
    assert main(["--port", "0", "--config-json", "{not json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("tokenstorm-mock: bad settings") == 2
    assert "Traceback" not in captured.err


def test_command_line_prints_one_line_and_exits_cleanly_on_sigint() -> None:
    project_root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_models", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=project_root,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert re.fullmatch(r"tokenstorm-mock listening on http://127\.0\.0\.1:\d+\n", line)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert out == b"" and err == b""


def test_seed_flag_overrides_the_config() -> None:
    args = argparse.Namespace(config_json=MockSettings(seed=1).model_dump_json(), seed=9)
    assert settings_from_args(args).seed == 9
    assert settings_from_args(argparse.Namespace(config_json=None, seed=None)) == MockSettings()
