"""Trace formats: variants every reader must accept (BurstGPT v3, Azure 2024/2025, generic
column mappings) and malformed traces that must fail with one line naming file, line, column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.contract.traffic import TraceColumns
from workloads.traces import TraceError, load_trace, parse_trace, trace_formats

BURSTGPT_V3 = """Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,\
Total tokens,Log Type
1708905600.25,4b1c-aa,3.2,ChatGPT,100,20,120,Conversation log
1708905601.5,,1.0,GPT-4,50,0,50,API log
1708905603.125,4b1c-aa,2.0,ChatGPT,180,30,210,Conversation log
"""


def test_burstgpt_v3_is_read_by_column_name_with_sessions_and_float_times() -> None:
    rows = parse_trace(BURSTGPT_V3.splitlines(), "v3.csv")
    assert [row.prompt_tokens for row in rows] == [100, 50, 180]
    assert [row.output_tokens for row in rows] == [20, 0, 30]
    assert [row.session for row in rows] == ["4b1c-aa", None, "4b1c-aa"]
    gaps = [rows[i + 1].time_ns - rows[i].time_ns for i in range(2)]
    assert gaps == [1_250_000_000, 1_625_000_000]  # decimal seconds kept digit-exact
    assert rows[1].tags == {
        "trace_model": "GPT-4",
        "trace_log_type": "API log",
        "trace_failed": "true",
    }


def test_azure_2024_mixed_fractions_and_2025_zulu_times_parse() -> None:
    mixed = (
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-10 00:00:00+00:00,10,1\n"
        "2024-05-10 00:00:00.009930+00:00,11,2\n"
        "2024-05-10 02:00:01.5+02:00,12,3\n"
    )
    rows = parse_trace(mixed.splitlines(), "a.csv")
    assert [row.time_ns - rows[0].time_ns for row in rows] == [0, 9_930_000, 1_500_000_000]
    zulu = (
        "TIMESTAMP,ContextTokens,GeneratedTokens,NumImages\n"
        "2024-10-15T00:00:01.25Z,7,8,1\n2024-10-15T00:00:02Z,9,10,0\n"
    )
    rows = parse_trace(zulu.splitlines(), "m.csv")
    assert rows[1].time_ns - rows[0].time_ns == 750_000_000


@pytest.mark.parametrize(
    ("unit", "cells", "gap_ns"),
    [
        ("s", ("10", "12.5"), 2_500_000_000),
        ("ms", ("10", "12.5"), 2_500_000),
        ("us", ("10", "12"), 2_000),
        ("ns", ("10", "12"), 2),
        ("iso", ("2025-01-01T00:00:00Z", "2025-01-01T00:00:03Z"), 3_000_000_000),
    ],
)
def test_generic_csv_and_jsonl_mappings_honour_the_time_unit(
    unit: str, cells: tuple[str, str], gap_ns: int
) -> None:
    columns = TraceColumns(
        time="t", prompt_tokens="in", output_tokens="out", session="sid", time_unit=unit
    )  # type: ignore[arg-type]
    text = f"t,in,out,sid\n{cells[0]},5,6,a\n{cells[1]},7,8,\n"
    rows = parse_trace(text.splitlines(), "g.csv", "auto", columns)
    assert rows[1].time_ns - rows[0].time_ns == gap_ns
    assert [(row.prompt_tokens, row.output_tokens, row.session) for row in rows] == [
        (5, 6, "a"),
        (7, 8, None),
    ]
    jsonl = [
        f'{{"t": "{cells[0]}", "in": 5, "out": 6}}',
        f'{{"t": "{cells[1]}", "in": 7, "out": 8, "sid": "x"}}',
    ]
    rows = parse_trace(jsonl, "g.jsonl", "auto", columns)
    assert rows[1].time_ns - rows[0].time_ns == gap_ns
    assert [row.session for row in rows] == [None, "x"]


AZURE_HEAD = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n"
LATER = "2023-11-16 18:17:04.1"
MOONCAKE_OK = '{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [0, 1]}\n'
BURSTGPT_HEAD = "Timestamp,Model,Request tokens,Response tokens\n"
TRACELAB = '{"input_tokens_total": 5, "output_tokens": 1, "session_id": "s"'


def _json(**fields: object) -> str:
    return json.dumps(fields) + "\n"


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        (
            "a.csv",
            "TIMESTAMP,ContextTokens\n2023-11-16 18:17:03.9,5\n",
            ":1: column 'GeneratedTokens': missing from the header",
        ),
        (
            "a.csv",
            AZURE_HEAD + "2023-11-16 18:17:0x.1,5,6\n",
            ":3: column 'TIMESTAMP': bad timestamp",
        ),
        (
            "a.csv",
            AZURE_HEAD + "2023-02-30 18:17:03.1,5,6\n",
            ":3: column 'TIMESTAMP': bad timestamp",
        ),
        (
            "a.csv",
            AZURE_HEAD + LATER + ",-5,6\n",
            ":3: column 'ContextTokens': -5 tokens is negative",
        ),
        (
            "a.csv",
            AZURE_HEAD + LATER + ",5,six\n",
            ":3: column 'GeneratedTokens': 'six' is not a whole number",
        ),
        (
            "a.csv",
            AZURE_HEAD + LATER + ",5,1.5\n",
            ":3: column 'GeneratedTokens': '1.5' is not a whole number",
        ),
        ("a.csv", AZURE_HEAD + LATER + ",,6\n", ":3: column 'ContextTokens': missing"),
        ("a.csv", AZURE_HEAD + "\n" + LATER + ",5\n", ":4: has 2 cells"),
        ("b.csv", BURSTGPT_HEAD + "noon,ChatGPT,1,2\n", ":2: column 'Timestamp': bad timestamp"),
        (
            "m.jsonl",
            MOONCAKE_OK + _json(timestamp=3, input_length=-1, output_length=5),
            ":2: column 'input_length': -1 tokens is negative",
        ),
        (
            "m.jsonl",
            MOONCAKE_OK + _json(timestamp=3, output_length=5),
            ":2: column 'input_length': missing",
        ),
        (
            "m.jsonl",
            MOONCAKE_OK + _json(timestamp="soon", input_length=1, output_length=5),
            ":2: column 'timestamp': bad timestamp",
        ),
        (
            "m.jsonl",
            MOONCAKE_OK + _json(timestamp=3, input_length=1, output_length=5, hash_ids="x"),
            ":2: column 'hash_ids': must be a list",
        ),
        ("m.jsonl", MOONCAKE_OK + "\n" + '{"timestamp": 3,\n', ":3: not valid JSON"),
        ("t.jsonl", TRACELAB + "}\n", ":1: column 'timing_events': missing"),
        (
            "t.jsonl",
            TRACELAB + ', "timing_events": [{"timestamp": "yesterday"}]}\n',
            ":1: column 'timing_events[0].timestamp': bad timestamp",
        ),
        ("x.csv", "when,in,out\n1,2,3\n", ":1: cannot tell the trace format"),
        ("e.csv", "", ":1: the trace is empty"),
    ],
)
def test_a_malformed_trace_fails_with_one_line_naming_file_line_and_column(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TraceError) as caught:
        load_trace(path)
    message = str(caught.value)
    assert message.startswith(f"{path}{where}"), message
    assert "\n" not in message


def test_a_missing_file_and_an_unknown_format_say_so(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such trace file"):
        load_trace(tmp_path / "absent.csv")
    (tmp_path / "a.csv").write_text(AZURE_HEAD)
    with pytest.raises(TraceError, match="unknown trace format 'parquet'"):
        load_trace(tmp_path / "a.csv", "parquet")
    assert set(trace_formats()) >= {"azure", "burstgpt", "mooncake", "tracelab", "csv", "jsonl"}


def test_a_declared_format_overrides_detection(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(AZURE_HEAD)
    with pytest.raises(TraceError, match=r":1: column 'Timestamp': missing from the header"):
        load_trace(path, "burstgpt")
