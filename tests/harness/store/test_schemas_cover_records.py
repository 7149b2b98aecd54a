"""The columnar schemas name every field of the records they hold, so a field added to a record
(as ``finish_reason`` was) cannot be dropped silently from the Parquet copy or an export."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest
from harness.store.frames import LEDGER_ARROW_SCHEMA, PLAN_ARROW_SCHEMA
from harness.store.schema import RECORD_ARROW_SCHEMA, from_batch, to_batch


def _fields(kind: type[object]) -> set[str]:
    return {f.name for f in dataclasses.fields(kind)} - {"schema"}  # type: ignore[arg-type]


def test_every_attempt_field_has_a_column() -> None:
    expected = (_fields(AttemptRecord) - {"token_times_s"}) | {"token_gaps_us"}
    assert set(RECORD_ARROW_SCHEMA.names) == expected


def test_every_plan_and_ledger_field_has_a_column() -> None:
    assert set(PLAN_ARROW_SCHEMA.names) == _fields(PlannedRequest)
    assert set(LEDGER_ARROW_SCHEMA.names) == _fields(LedgerEntry)


def test_a_chunk_written_before_a_column_existed_reads_it_as_none() -> None:
    record = AttemptRecord(
        request_id="r",
        session_id="s",
        turn=1,
        attempt=1,
        scheduled_s=0.0,
        sent_s=0.001,
        first_byte_s=0.002,
        first_token_s=0.003,
        done_s=0.004,
        status_code=200,
        outcome="ok",
        prompt_tokens=5,
        completion_tokens=2,
        cached_tokens=0,
        usage_source="server",
        model="m",
        deployment="d",
        error_detail=None,
        token_times_s=(0.003, 0.004),
        finish_reason="stop",
    )
    batch = to_batch([record])
    older = pa.RecordBatch.from_arrays(
        [batch.column(name) for name in batch.schema.names if name != "finish_reason"],
        names=[name for name in batch.schema.names if name != "finish_reason"],
    )
    assert from_batch(batch) == [record]
    assert from_batch(older) == [dataclasses.replace(record, finish_reason=None)]
