"""A whole run through the fault proxy: a windowed brownout shows up in the summary as
figures before, during and after the window, with a recovery time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mock_models.embedded import EmbeddedMock
from mock_models.settings import constant_settings

PROFILE = """
[[rule]]
kind = "http_503"
window = { start = "1s", end = "2s" }
"""


@pytest.mark.slow
def test_run_through_the_proxy_reports_the_fault_window(tmp_path: Path) -> None:
    profile = tmp_path / "outage.toml"
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
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "harness.cli.main",
                    "run",
                    "--target",
                    f"{url}/v1",
                    "--rate",
                    "20",
                    "--duration",
                    "6s",
                    "--out",
                    str(tmp_path),
                    "--run-id",
                    "w",
                    "--no-progress",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "w" / "summary.json").read_text())
    [window] = summary["fault_windows"]
    assert (window["start_s"], window["end_s"], window["label"]) == (1.0, 2.0, "http_503")
    assert window["before"]["error_rate"] == 0 and window["after"]["error_rate"] == 0
    assert window["during"]["error_rate"] > 0.9  # the proxy's clock starts at the first request
    assert window["recovery_s"] is not None and window["recovery_s"] <= 1.0
    assert summary["upstream_attempts"] == summary["client_attempts"]
    markdown = (tmp_path / "w" / "report.md").read_text()
    assert "### Fault windows" in markdown and "http_503 1–2 s" in markdown
    assert f"{window['recovery_s']:g} s" in markdown
    html = (tmp_path / "w" / "report.html").read_text()
    assert "<h2>Fault windows</h2>" in html
    assert html.count("fault window") >= 3  # shaded in the legend of the three time charts
    # The proxy names itself on every answer, so the run knew its ledger was there to read.
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert manifest["upstream_server"] == "proxy"
    assert manifest["ledger_origin"] == "target"
