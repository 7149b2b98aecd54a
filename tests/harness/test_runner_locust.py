"""What ``tokenstorm run --engine locust`` refuses: the closed loop (``--concurrency``), in one
line that says why (Locust workers hold sessions at planned times, not N requests in flight)
and what to do, before anything is created or sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main


def test_the_closed_loop_is_refused_in_one_line_saying_why_and_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--concurrency", "3", "--requests", "10", "--out", str(tmp_path)]
    code = main([*argv, "--run-id", "closed", "--engine", "locust", "--workers", "1"])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert "\n" not in err
    assert "--engine locust" in err and "open-loop" in err  # what is refused
    assert "sessions" in err and "in flight" in err  # why
    assert "--rate" in err and "drop --engine locust" in err  # what to do instead
    assert not (tmp_path / "closed").exists()  # nothing created, nothing sent
