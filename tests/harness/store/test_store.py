"""The columnar copy of records: lossless round trip, chunks plus JSONL tail, a run killed
with SIGKILL, and a disk that fills before or during the run."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.records import AttemptRecord, read_jsonl
from harness.store.appender import RecordAppender, StoreFullError, check_free_space
from harness.store.chunks import chunk_dir, chunk_files, record_batches
from harness.store.schema import from_batch, to_batch


def _record(index: int, gaps_us: list[int], *, ok: bool = True) -> AttemptRecord:
    first = round(1.0 + index * 0.25, 6) if ok else None
    times: list[float] = []
    if first is not None:
        total = 0
        for gap in gaps_us:
            total += gap
            times.append(round(first + total / 1e6, 6))
    return AttemptRecord(
        request_id=f"r{index}",
        session_id=f"s{index}",
        turn=1,
        attempt=1,
        scheduled_s=round(0.9 + index * 0.25, 6),
        sent_s=round(0.9 + index * 0.25, 6),
        first_byte_s=first,
        first_token_s=first,
        done_s=times[-1] if times else None,
        status_code=200 if ok else None,
        outcome="ok" if ok else "connect_error",
        prompt_tokens=12 if ok else None,
        completion_tokens=len(gaps_us) + 1 if ok else None,
        cached_tokens=None,
        usage_source="server" if ok else None,
        model="mock-small",
        deployment="d1" if ok else None,
        error_detail=None if ok else "refused",
        token_times_s=tuple(times),
        api="openai-chat",
        tags={"tenant": "t1", "workload": "chat"},
        planned_prompt_tokens=12,
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5_000_000), max_size=12), min_size=1, max_size=8))
def test_records_round_trip_exactly_through_arrow(streams: list[list[int]]) -> None:
    records = [_record(i, gaps, ok=i % 3 != 2) for i, gaps in enumerate(streams)]
    assert from_batch(to_batch(records)) == records


def test_chunks_and_jsonl_tail_give_every_record_once(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    clock = [0.0]
    appender = RecordAppender(path, lambda: clock[0], chunk_rows=4, chunk_age_s=10.0)
    records = [_record(i, [1000, 2000, 1500]) for i in range(11)]
    for record in records:
        clock[0] += 1.0
        assert appender.append(record)
    # 8 records went into two chunks; 3 are in the JSONL alone until close
    appender.settle()
    assert len(chunk_files(chunk_dir(path))) == 2
    assert [r for b in record_batches(path) for r in from_batch(b)] == records
    appender.close()
    assert len(chunk_files(chunk_dir(path))) == 3
    assert [r for b in record_batches(path) for r in from_batch(b)] == records
    assert list(read_jsonl(path, AttemptRecord)) == records


def test_a_chunk_is_also_written_when_its_records_age(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    clock = [0.0]
    appender = RecordAppender(path, lambda: clock[0], chunk_rows=1000, chunk_age_s=5.0)
    appender.append(_record(0, [10]))
    clock[0] = 4.9
    appender.append(_record(1, [10]))
    assert chunk_files(chunk_dir(path)) == []
    clock[0] = 5.0
    appender.append(_record(2, [10]))
    appender.settle()
    assert len(chunk_files(chunk_dir(path))) == 1
    appender.close()


_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from harness.store.appender import RecordAppender
from test_store import _record
appender = RecordAppender(Path({path!r}), time.monotonic, chunk_rows=50, chunk_age_s=0.05)
for i in range(10**9):
    appender.append(_record(i, [1000, 1000, 2000]))
    print(i + 1, flush=True)
    time.sleep(0.0005)
"""


def test_a_run_killed_with_sigkill_keeps_every_appended_record(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    code = _CHILD.format(tests=str(Path(__file__).parent), path=str(path))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    deadline = time.monotonic() + 30
    confirmed = 0
    while confirmed < 400 and time.monotonic() < deadline:
        confirmed = int(child.stdout.readline() or confirmed)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert confirmed >= 400
    assert len(chunk_files(chunk_dir(path))) >= 2
    read = [r for b in record_batches(path) for r in from_batch(b)]
    assert len(read) >= confirmed
    assert read == [_record(i, [1000, 1000, 2000]) for i in range(len(read))]


class _FullDisk:
    """A records file whose disk fills after ``room`` bytes (an injected ENOSPC)."""

    def __init__(self, path: Path, room: int) -> None:
        self._handle: IO[bytes] = path.open("ab")
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            self._handle.write(data[: self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._handle.write(data)

    def flush(self) -> None:
        self._handle.flush()

    def tell(self) -> int:
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()


def test_a_full_disk_stops_the_appender_and_keeps_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    records = [_record(i, [500, 700]) for i in range(20)]
    line_bytes = 1000  # a little more than one record's JSON line
    appender = RecordAppender(
        path,
        lambda: 0.0,
        chunk_rows=3,
        open_file=lambda p: _FullDisk(p, room=5 * line_bytes),  # type: ignore[arg-type,return-value]
    )
    accepted = [r for r in records if appender.append(r)]
    appender.close()
    assert 0 < len(accepted) < len(records)
    assert appender.failure is not None and "the disk is full" in appender.failure
    assert "\n" not in appender.failure
    read = [r for b in record_batches(path) for r in from_batch(b)]
    assert read == accepted


def test_a_run_too_big_for_the_disk_is_refused_before_it_starts(tmp_path: Path) -> None:
    check_free_space(tmp_path, 1000, 48, free_bytes=lambda _: 10**9)
    with pytest.raises(StoreFullError) as caught:
        check_free_space(tmp_path, 1_000_000, 48, free_bytes=lambda _: 50 * 10**6)
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path) in message and "MB free" in message
