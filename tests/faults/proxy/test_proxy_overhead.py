"""Gateway overhead through the fault proxy with a delay: measured against the mock's ledger
(the model's service time), null with a note against the proxy's own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

PROFILE = """
[[rule]]
kind = "delay"
params = { delay_ms = 60 }
"""


def _run(tmp_path: Path, url: str, run_id: str, *extra: str) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli.main",
            "run",
            "--target",
            f"{url}/v1",
            "--rate",
            "10",
            "--duration",
            "1s",
            "--out",
            str(tmp_path),
            "--run-id",
            run_id,
            "--no-progress",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads((tmp_path / run_id / "summary.json").read_text())
    return summary


@pytest.mark.slow
def test_overhead_is_measured_against_the_model_not_the_proxy(tmp_path: Path) -> None:
    profile = tmp_path / "delay.toml"
    profile.write_text(PROFILE)
    with EmbeddedMock(constant_settings(2.0, 1.0, 4)) as mock:
        proxy = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli.main",
                "proxy",
                "--upstream",
                mock.base_url,
                "--port",
                "0",
                "--faults",
                str(profile),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proxy.stdout is not None
            url = proxy.stdout.readline().split()[3]
            own = _run(tmp_path, url, "proxy-ledger")
            behind = _run(tmp_path, url, "mock-ledger", "--ledger", mock.ledger_url)
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
    # The proxy's ledger times the delay as its own service: the overhead would read ~0.
    assert own["ledger_source"]["origin"] == "target"
    assert own["ledger_source"]["upstream"] == "proxy"
    assert own["gateway_overhead_ms"] is None
    assert any("fault proxy" in note for note in own["notes"])
    # The mock's ledger is the model's own time: the proxy's delay is the overhead.
    assert behind["ledger_source"]["origin"] == "option"
    assert behind["ledger_source"]["upstream"] == "mock"
    assert 55.0 <= behind["gateway_overhead_ms"]["p50"] <= 120.0
