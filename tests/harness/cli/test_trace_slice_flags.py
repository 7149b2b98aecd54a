"""``--trace-start``/``--trace-end`` on ``plan`` and ``run``: they become the ``[trace]`` slice,
so only rows inside it are planned, with offsets counted from the slice's start."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from harness.cli.main import build_parser, main
from harness.cli.scenario_source import TRACE_TAIL_S, resolve_scenario

HEADER = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"


def _trace(folder: Path, times_s: list[int]) -> Path:
    """A BurstGPT trace whose row i has ``100 + i`` request tokens."""
    path = folder / "t.csv"
    path.write_text(
        HEADER
        + "".join(
            f"{time_s},ChatGPT,{100 + i},5,{105 + i},API log\n" for i, time_s in enumerate(times_s)
        )
    )
    return path


def test_plan_keeps_only_rows_inside_the_slice(tmp_path: Path) -> None:
    times_s = [0, 30, 60, 90, 120, 150, 180]
    trace, out = _trace(tmp_path, times_s), tmp_path / "plan.jsonl"
    start_s, end_s, scale = 60, 150, 2.0
    code = main(
        [
            "plan",
            "--trace",
            str(trace),
            "--trace-start",
            "1m",
            "--trace-end",
            "150s",
            "--time-scale",
            str(scale),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    kept = [i for i, time_s in enumerate(times_s) if start_s <= time_s < end_s]
    assert [line["prompt_tokens"] for line in lines] == [100 + i for i in kept]
    assert [line["offset_s"] for line in lines] == [(times_s[i] - start_s) / scale for i in kept]


def test_run_flags_set_the_slice_and_the_duration(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [0, 10, 20, 30, 40])
    args = build_parser().parse_args(
        [
            "run",
            "--trace",
            str(trace),
            "--trace-start",
            "10s",
            "--trace-end",
            "35s",
            "--time-scale",
            "5",
        ]
    )
    scenario, _ = resolve_scenario(None, args)
    assert scenario.trace is not None
    assert (scenario.trace.start, scenario.trace.end) == (10.0, 35.0)
    assert scenario.duration == pytest.approx((30 - 10) / 5 + TRACE_TAIL_S)


def test_flags_override_a_scenario_slice(tmp_path: Path) -> None:
    _trace(tmp_path, [0, 10, 20, 30])
    scenario_path = tmp_path / "s.toml"
    scenario_path.write_text('name = "r"\n[trace]\npath = "t.csv"\nstart = "5s"\nend = "25s"\n')
    args = build_parser().parse_args(["plan", str(scenario_path), "--trace-end", "15s"])
    scenario, _ = resolve_scenario(str(scenario_path), args)
    assert scenario.trace is not None
    assert (scenario.trace.start, scenario.trace.end) == (5.0, 15.0)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--trace-start", "soon"], "'soon' is not a duration"),
        (["--trace-start", "20s", "--trace-end", "10s"], "start must be before end"),
    ],
)
def test_bad_slices_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], expected: str
) -> None:
    trace = _trace(tmp_path, [0, 10])
    argv = ["plan", "--trace", str(trace), *flags, "--out", str(tmp_path / "p.jsonl")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_slice_flag_without_a_trace_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--trace-end", "10s", "--out", str(tmp_path / "p.jsonl")]) == 2
    assert "--trace-end" in capsys.readouterr().err
