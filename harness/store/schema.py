"""Attempt records to Arrow columns and back: ``AttemptRecord`` objects in, a typed
``pyarrow.RecordBatch`` out, and the reverse, losslessly for the times the engine writes.

Every field of ``AttemptRecord`` is one column of the same name and a nullable type, except
``token_times_s``: it becomes ``token_gaps_us``, a list of int32 microsecond gaps between
consecutive content events, the first gap measured from ``first_token_s``. The engine rounds
every time to the microsecond, so the gaps are whole numbers and rebuilding a time as
``round(first_token_s + sum(gaps) / 1e6, 6)`` gives back the very float that was written. A
time with finer digits (hand-made records) keeps its microsecond only. ``schema`` is not a
column: it is the file's ``tokenstorm.schema`` metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa

from harness.contract.records import RECORD_SCHEMA, AttemptRecord

_US_PER_S = 1_000_000

_STR = pa.string()
_F64 = pa.float64()
_I32 = pa.int32()

#: Column name -> Arrow type, in the order of ``AttemptRecord``'s fields.
COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("request_id", _STR),
    ("session_id", _STR),
    ("turn", _I32),
    ("attempt", _I32),
    ("scheduled_s", _F64),
    ("sent_s", _F64),
    ("first_byte_s", _F64),
    ("first_token_s", _F64),
    ("done_s", _F64),
    ("status_code", _I32),
    ("outcome", _STR),
    ("prompt_tokens", _I32),
    ("completion_tokens", _I32),
    ("cached_tokens", _I32),
    ("usage_source", _STR),
    ("model", _STR),
    ("deployment", _STR),
    ("error_detail", _STR),
    ("token_gaps_us", pa.list_(_I32)),
    ("api", _STR),
    ("tags", pa.map_(_STR, _STR)),
    ("retry_after_s", _F64),
    ("fault", _STR),
    ("cache_write_tokens", _I32),
    ("planned_prompt_tokens", _I32),
    ("finish_reason", _STR),
)
RECORD_ARROW_SCHEMA = pa.schema(
    [pa.field(name, kind) for name, kind in COLUMNS],
    metadata={"tokenstorm.schema": RECORD_SCHEMA},
)
_PLAIN = tuple(name for name, _ in COLUMNS if name not in ("token_gaps_us", "tags"))


def _gaps_column(records: Sequence[AttemptRecord]) -> pa.ListArray:
    """``token_gaps_us`` of every record at once, with numpy (no Python loop over tokens)."""
    times = [r.token_times_s if r.first_token_s is not None else () for r in records]
    counts = np.fromiter(map(len, times), np.int64, len(records))
    offsets = np.zeros(len(records) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = np.fromiter(chain.from_iterable(times), np.float64, int(offsets[-1]))
    times_us = np.rint(flat * _US_PER_S).astype(np.int64)
    firsts = np.array([r.first_token_s or 0.0 for r in records], np.float64)
    previous = np.empty_like(times_us)
    previous[1:] = times_us[:-1]
    has = counts > 0
    previous[offsets[:-1][has]] = np.rint(firsts[has] * _US_PER_S).astype(np.int64)
    gaps = (times_us - previous).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(gaps))


def to_batch(records: Sequence[AttemptRecord]) -> pa.RecordBatch:
    """The records as one Arrow batch of ``RECORD_ARROW_SCHEMA``."""
    arrays: dict[str, Any] = {
        name: pa.array([getattr(r, name) for r in records], type=kind)
        for name, kind in COLUMNS
        if name in _PLAIN
    }
    arrays["token_gaps_us"] = _gaps_column(records)
    arrays["tags"] = pa.array([list(r.tags.items()) for r in records], type=pa.map_(_STR, _STR))
    ordered = [arrays[name] for name, _ in COLUMNS]
    return pa.RecordBatch.from_arrays(ordered, schema=RECORD_ARROW_SCHEMA)


def _times_column(first_token_s: list[float | None], gaps: pa.ListArray) -> list[tuple[float, ...]]:
    """``token_times_s`` of every row at once: the inverse of ``_gaps_column``."""
    offsets = gaps.offsets.to_numpy().astype(np.int64)
    flat = gaps.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.diff(offsets)
    firsts = np.array([f or 0.0 for f in first_token_s], np.float64)
    start_us = np.rint(firsts * _US_PER_S).astype(np.int64)
    running = np.cumsum(flat)
    before = np.concatenate([[0], running])[offsets[:-1]]  # the sum of earlier rows' gaps
    totals = running - np.repeat(before, lengths) + np.repeat(start_us, lengths)
    times = (totals / _US_PER_S).tolist()
    return [
        tuple(times[offsets[row] : offsets[row + 1]]) if first is not None else ()
        for row, first in enumerate(first_token_s)
    ]


def from_batch(batch: pa.RecordBatch | pa.Table) -> list[AttemptRecord]:
    """The records of a batch (or table) of ``RECORD_ARROW_SCHEMA``, in order."""
    present = set(batch.schema.names)
    # A column added after a chunk was written (finish_reason) reads as its default, None.
    nones: list[Any] = [None] * batch.num_rows
    columns: dict[str, list[Any]] = {
        name: batch.column(name).to_pylist() if name in present else nones for name in _PLAIN
    }
    gaps = batch.column("token_gaps_us")
    if isinstance(gaps, pa.ChunkedArray):
        gaps = gaps.combine_chunks()
    times = _times_column(columns["first_token_s"], gaps)
    tags = batch.column("tags").to_pylist()
    names = list(columns)
    rows = zip(*columns.values(), strict=True)
    return [
        AttemptRecord(
            **dict(zip(names, values, strict=True)),
            token_times_s=times[row],
            tags=dict(tags[row] or ()),
        )
        for row, values in enumerate(rows)
    ]
