"""``tokenstorm plan --trace`` and a scenario's ``[trace]``: every row planned, scaled and
written; mistakes in the trace or the flags end in one line and exit code 2."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from harness.cli.main import main
from harness.contract.distributions import BUNDLED_TRACES_DIR

AZURE = BUNDLED_TRACES_DIR / "AzureLLMInferenceTrace_code.csv"


def _plan_lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_plan_trace_writes_one_request_per_row_scaled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.jsonl"
    code = main(
        [
            "plan",
            "--trace",
            str(AZURE),
            "--trace-format",
            "azure",
            "--time-scale",
            "10",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    with AZURE.open(newline="") as handle:
        tokens = sorted(int(row["ContextTokens"]) for row in csv.DictReader(handle))
    lines = _plan_lines(out)
    assert sorted(int(line["prompt_tokens"]) for line in lines) == tokens  # type: ignore[call-overload]
    last_offset_s = max(float(line["offset_s"]) for line in lines)  # type: ignore[arg-type]
    printed = capsys.readouterr().out
    assert f"{len(tokens)} requests written" in printed
    assert f"over {last_offset_s + 1.0:g} s" in printed  # duration: last row + 1 s


def test_a_scenario_trace_path_is_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "10,ChatGPT,5,0,5,API log\n14,GPT-4,7,3,10,Conversation log\n"
    )
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        'name = "replay"\nduration = "9s"\n[trace]\npath = "t.csv"\n'
        'time_scale = 2.0\ntags = { tenant = "acme" }\n'
    )
    out = tmp_path / "plan.jsonl"
    assert main(["plan", str(scenario), "--out", str(out)]) == 0
    lines = _plan_lines(out)
    assert [line["offset_s"] for line in lines] == [0.0, 2.0]
    assert [line["max_tokens"] for line in lines] == [1, 3]
    assert lines[0]["tags"] == {
        "workload": "trace",
        "trace": "t.csv",
        "tenant": "acme",
        "trace_model": "ChatGPT",
        "trace_log_type": "API log",
        "trace_failed": "true",
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--trace", "{bad}"], "{bad}:3: column 'ContextTokens': -4 tokens is negative"),
        (["--trace", "{missing}"], "no such trace file"),
        (["--time-scale", "3"], "--time-scale/--rate-scale need --trace FILE"),
        (["--trace", "{bad}", "--time-scale", "0"], "trace.time_scale: Input should be greater"),
    ],
)
def test_trace_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.1,-4,1\n"
    )
    paths = {"bad": str(bad), "missing": str(tmp_path / "nope.csv")}
    argv = ["plan", *(arg.format(**paths) for arg in args), "--out", str(tmp_path / "p.jsonl")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected.format(**paths) in err
    assert err.count("\n") == 1 and "Traceback" not in err
