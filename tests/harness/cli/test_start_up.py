"""What ``tokenstorm run`` imports before its first request: nothing only the end of a run (the
reports, the ledger fetch) or another verb needs."""

from __future__ import annotations

import subprocess
import sys

#: Modules the run path must not import up front: the report renderers (matplotlib alone was
#: 0.9 s of CPU), the ledger's HTTP client, and the other verbs' machinery.
LATE = (
    "matplotlib",
    "jinja2",
    "httpx",
    "harness.report",
    "harness.compare",
    "mock_models.http.server",
)


def test_the_run_path_imports_nothing_it_needs_only_after_the_run() -> None:
    script = (
        "import sys\n"
        "from harness.cli.main import build_parser\n"
        "import harness.runner\n"
        "build_parser('run')\n"
        f"print(sorted(m for m in {LATE!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_verb_is_still_listed_in_the_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for verb in ("run", "mock", "plan", "report", "proxy", "gate", "compare"):
        assert verb in result.stdout
