"""``--fault "KIND; p=P; ..."``: the header's grammar as a profile rule, repeatable, on
``tokenstorm mock`` (with or without the quick latency flags), ``proxy`` and ``run``'s embedded
mock; a mistake is one line naming the flag and the fix."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from faults.catalogue import FaultKind
from faults.profile import ProfileError, load_profile
from faults.quick import rule_from_flag, with_flags
from harness.cli.errors import UserError
from harness.cli.main import main
from harness.cli.mock import settings_from_args
from mock_models.embedded import LISTENING_PREFIX


def test_a_flag_is_a_rule_in_the_header_grammar() -> None:
    rule = rule_from_flag("http_429; p=0.3; retry_after_s=2; first_attempts=1")
    assert rule.kind is FaultKind.HTTP_429
    assert rule.probability == 0.3
    assert rule.first_attempts == 1
    assert rule.params == {"retry_after_s": 2.0}
    windowed = rule_from_flag(" http_503 ;probability=0.5; start=10; end=20; ramp=2 ")
    assert (windowed.window.start, windowed.window.end, windowed.window.ramp) == (10, 20, 2)
    assert rule_from_flag("cut").probability == 1.0  # like the header: every attempt


@given(
    kind=st.sampled_from([k for k in FaultKind if k is not FaultKind.FLAP]),
    p=st.floats(min_value=0, max_value=1),
)
def test_any_kind_and_probability_round_trip(kind: FaultKind, p: float) -> None:
    rule = rule_from_flag(f"{kind.value}; p={p!r}")
    assert rule.kind is kind and rule.probability == p


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "is empty"),
        ("nope; p=1", "unknown fault kind 'nope'"),
        ("http_429; p=2", "p should be less than or equal to 1"),
        ("http_429; p=x", "'p=x' is not 'param=number'"),
        ("http_429; p", "'p' is not 'param=number'"),
        ("cut; bogus=1", "cut takes no parameter bogus (its parameters: after_tokens)"),
        ("http_500; start=5; end=2", "window end must come after its start"),
        ("http_500; first_attempts=0.5", "first_attempts must be a whole number >= 1"),
        ("http_500; p=0.5; probability=0.5", "give p or probability, not both"),
    ],
)
def test_bad_grammar_is_one_line_naming_the_flag(value: str, says: str) -> None:
    with pytest.raises(ProfileError) as caught:
        rule_from_flag(value)
    message = str(caught.value)
    assert message.startswith(f"--fault {value!r}") and says in message
    assert "\n" not in message


def test_flags_add_rules_after_a_profile() -> None:
    assert with_flags(None, []) is None
    alone = with_flags(None, ["http_500; p=0.1", "cut; after_tokens=3"])
    assert alone is not None and [r.kind for r in alone.rule] == ["http_500", "cut"]
    demo = load_profile("demo")
    merged = with_flags(demo, ["http_502"])
    assert merged is not None and merged.name == "demo+command-line"
    assert merged.rule[: len(demo.rule)] == demo.rule and merged.rule[-1].kind == "http_502"


def _mock_args(**given: object) -> argparse.Namespace:
    args = {"ttft_ms": None, "itl_ms": None, "output_tokens": None, "config": None}
    return argparse.Namespace(**{**args, "faults": None, "seed": None, "fault": [], **given})


def test_quick_latency_flags_take_faults_now() -> None:
    settings = settings_from_args(
        _mock_args(ttft_ms=5.0, output_tokens=4, fault=["http_429; p=0.3"], faults="flaky")
    )
    assert settings.deployments[0].ttft_ms == 5.0
    assert settings.faults is not None and settings.faults.name == "flaky+command-line"
    assert settings.faults.rule[-1].probability == 0.3
    plain = settings_from_args(_mock_args(fault=["hang; p=0.01; hang_s=2"]))
    assert plain.faults is not None and plain.faults.rule[0].params == {"hang_s": 2.0}
    with pytest.raises(UserError, match=r"^--fault 'nope'"):
        settings_from_args(_mock_args(ttft_ms=5.0, fault=["nope"]))
    with pytest.raises(UserError, match="do not combine them with --config"):
        settings_from_args(_mock_args(ttft_ms=5.0, config="x.toml"))


def test_mock_serves_the_flag_faults_with_its_quick_latency() -> None:
    """A real ``tokenstorm mock`` process: constant latency plus a 429 on every first
    attempt, with its retry-after; the second attempt passes."""
    command = [sys.executable, "-m", "harness.cli.main", "mock", "--port", "0"]
    command += ["--ttft-ms", "1", "--output-tokens", "3"]
    command += ["--fault", "http_429; p=1; retry_after_s=2; first_attempts=1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith(LISTENING_PREFIX), line + (
            process.stderr.read() if process.stderr else ""
        )
        base = line[len(LISTENING_PREFIX) :]
        body = {"model": "any", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"x-tokenstorm-request-id": "r1"}
        first = httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=10)
        assert first.status_code == 429 and first.headers["retry-after"] == "2"
        second = httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=10)
        assert second.status_code == 200
        assert second.json()["usage"]["completion_tokens"] == 3
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_bad_flags_fail_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mock", "--fault", "http_429; p=7"]) != 0
    assert main(["proxy", "--upstream", "http://127.0.0.1:9", "--fault", "nope"]) != 0
    assert main(["run", "--target", "http://127.0.0.1:9/v1", "--fault", "http_500"]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert "--fault 'http_429; p=7': p should be less than or equal to 1" in lines[0]
    assert "--fault 'nope': unknown fault kind" in lines[1]
    assert "put them on its upstream instead" in lines[2]


def test_run_adds_flag_rules_to_the_embedded_mock(tmp_path: Path) -> None:
    """The demo's embedded mock keeps its profile and gains the flag's rule, which takes
    every attempt the demo's rules leave: nothing succeeds, every attempt carries a fault."""
    args = ["run", "--duration", "1s", "--rate", "3", "--out", str(tmp_path), "--run-id", "f"]
    args += ["--fault", "http_500; p=1", "--no-progress", "--no-report"]
    assert main(args) == 0
    folder = tmp_path / "f"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["requests_sent"] >= 2 and summary["requests_ok"] == 0
    ledger = [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]
    assert ledger and all(entry["fault"] for entry in ledger)
    assert "http_500" in {entry["fault"] for entry in ledger}
