"""The pytest plugin inside a user's own suite: the fixture serves the mock with its faults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

USER_TESTS = """
import httpx
import pytest

BODY = {"model": "mock-small", "max_tokens": 4, "stream": False,
        "messages": [{"role": "user", "content": "hi"}]}


def _status(mock):
    return httpx.post(mock.api_url + "/chat/completions", json=BODY, timeout=10).status_code


def test_default_mock_answers(tokenstorm_mock):
    assert _status(tokenstorm_mock) == 200


@pytest.mark.tokenstorm_mock(faults={"rule": [{"kind": "http_503"}]}, seed=5)
def test_faulty_mock_fails_every_request(tokenstorm_mock):
    assert {_status(tokenstorm_mock) for _ in range(3)} == {503}


@pytest.mark.tokenstorm_mock(faults={"rule": [{"kind": "http_5000"}]})
def test_bad_marker(tokenstorm_mock):
    pass
"""


@pytest.mark.slow
def test_fixture_in_a_user_suite(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "harness.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "test_user.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        # Load the plugin by -p only, whether or not the pytest11 entry point is installed.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    out = result.stdout
    assert "2 passed" in out and "1 error" in out, out + result.stderr
    assert "tokenstorm_mock marker: faults.rule[0].kind" in out, out
