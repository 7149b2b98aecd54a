"""Attempt records through their JSON lines: ``finish_reason`` round-trips when set, and a
line written before the field existed still reads, as None."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson

from harness.contract.records import AttemptRecord, read_jsonl, to_json_line, write_jsonl


def _record(request_id: str, finish_reason: str | None) -> AttemptRecord:
    return AttemptRecord(
        request_id=request_id,
        session_id="s",
        turn=1,
        attempt=1,
        scheduled_s=0.0,
        sent_s=0.0,
        first_byte_s=0.01,
        first_token_s=0.01,
        done_s=0.02,
        status_code=200,
        outcome="ok",
        prompt_tokens=3,
        completion_tokens=0,
        cached_tokens=0,
        usage_source="server",
        model="m",
        deployment=None,
        error_detail=None,
        finish_reason=finish_reason,
    )


def test_finish_reason_round_trips_with_and_without_a_value(tmp_path: Path) -> None:
    records = [_record("a", "content_filter"), _record("b", None), _record("c", "end_turn")]
    path = tmp_path / "records.jsonl"
    write_jsonl(path, records)
    assert list(read_jsonl(path, AttemptRecord)) == records


def test_a_line_from_before_the_field_reads_as_unknown(tmp_path: Path) -> None:
    old = orjson.loads(to_json_line(_record("a", "stop")))
    del old["finish_reason"]
    path = tmp_path / "records.jsonl"
    path.write_bytes(orjson.dumps(old) + b"\n")
    (read,) = read_jsonl(path, AttemptRecord)
    assert read.finish_reason is None
    assert read == dataclasses.replace(_record("a", "stop"), finish_reason=None)
