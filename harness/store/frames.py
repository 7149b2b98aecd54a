"""A run's files as typed tables, for notebooks and other tools: ``load_run`` (pandas
DataFrames) and ``export_run`` (Parquet or CSV files, written batch by batch).

Records come from the Parquet chunks and the JSONL tail (``harness.store.chunks``); the plan
and the ledger from their JSON lines. Every column has an Arrow type (pandas ``ArrowDtype``):
integers stay integers with nulls, ``token_gaps_us`` is a list of int32 microsecond gaps,
``tags`` a map. In CSV, which has no list or map, those two columns are JSON text.
pandas is imported here only, on the analysis side; the engine never loads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from harness.contract.records import LedgerEntry, PlannedRequest, read_jsonl
from harness.run_dir import RunPaths
from harness.store.chunks import record_batches
from harness.store.schema import RECORD_ARROW_SCHEMA

FORMATS = ("parquet", "csv")
_BATCH_ROWS = 50_000

_STR, _F64, _I64, _BOOL = pa.string(), pa.float64(), pa.int64(), pa.bool_()
_MESSAGE = pa.struct([("role", _STR), ("tokens", _I64), ("seed", _I64), ("content", _STR)])
PLAN_ARROW_SCHEMA = pa.schema(
    [
        ("request_id", _STR),
        ("session_id", _STR),
        ("turn", _I64),
        ("offset_s", _F64),
        ("think_s", _F64),
        ("prompt_tokens", _I64),
        ("max_tokens", _I64),
        ("model", _STR),
        ("api", _STR),
        ("stream", _BOOL),
        ("messages", pa.list_(_MESSAGE)),
        ("tags", pa.map_(_STR, _STR)),
        ("resend_history", _BOOL),
        ("spawned_by", _STR),
        ("waits_for", pa.list_(_STR)),
        ("repeat_of", _STR),
        ("similarity", _F64),
    ]
)
LEDGER_ARROW_SCHEMA = pa.schema(
    [
        ("run_id", _STR),
        ("request_id", _STR),
        ("attempt", _I64),
        ("received_s", _F64),
        ("deployment", _STR),
        ("model", _STR),
        ("api", _STR),
        ("stream", _BOOL),
        ("prompt_tokens", _I64),
        ("cached_tokens", _I64),
        ("completion_tokens", _I64),
        ("fault", _STR),
        ("outcome", _STR),
        ("status_code", _I64),
        ("service_ms", _F64),
        ("cache_write_tokens", _I64),
        ("lag_ms", _F64),
    ]
)


@dataclass(frozen=True)
class RunFrames:
    """One run as three pandas DataFrames; ``ledger`` is None when the run has none."""

    plan: Any
    records: Any
    ledger: Any


def _row(record: PlannedRequest | LedgerEntry) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if isinstance(record, PlannedRequest):
        row["messages"] = [dataclasses.asdict(m) for m in record.messages]
        row["tags"] = list(record.tags.items())
    return row


def _jsonl_batches(path: Path, kind: type[Any], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    rows: list[dict[str, Any]] = []
    for record in read_jsonl(path, kind):
        rows.append(_row(record))
        if len(rows) >= _BATCH_ROWS:
            yield pa.RecordBatch.from_pylist(rows, schema=schema)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def _tables(paths: RunPaths) -> dict[str, tuple[pa.Schema, Iterator[pa.RecordBatch]] | None]:
    return {
        "plan": (PLAN_ARROW_SCHEMA, _jsonl_batches(paths.plan, PlannedRequest, PLAN_ARROW_SCHEMA))
        if paths.plan.exists()
        else (PLAN_ARROW_SCHEMA, iter(())),
        "records": (RECORD_ARROW_SCHEMA, record_batches(paths.records)),
        "ledger": (
            LEDGER_ARROW_SCHEMA,
            _jsonl_batches(paths.ledger, LedgerEntry, LEDGER_ARROW_SCHEMA),
        )
        if paths.ledger.exists()
        else None,
    }


def load_run(run: str | Path) -> RunFrames:
    """The plan, records and ledger of the run directory ``run`` as typed DataFrames."""
    import pandas as pd

    frames: dict[str, Any] = {}
    for name, source in _tables(RunPaths(Path(run))).items():
        if source is None:
            frames[name] = None
            continue
        schema, batches = source
        table = pa.Table.from_batches(list(batches), schema=schema)
        frames[name] = table.to_pandas(types_mapper=pd.ArrowDtype)
    return RunFrames(**frames)


def _as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """List and map columns as JSON text, which CSV can hold."""
    columns: list[pa.Array] = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_list(field.type) or pa.types.is_map(field.type):
            values = [
                None if v is None else orjson.dumps(dict(v) if pa.types.is_map(field.type) else v)
                for v in column.to_pylist()
            ]
            columns.append(pa.array([None if v is None else v.decode() for v in values], _STR))
        else:
            columns.append(column)
    names = [field.name for field in batch.schema]
    return pa.RecordBatch.from_arrays(columns, names=names)


def export_run(run: str | Path, out_dir: Path, file_format: str) -> list[Path]:
    """Write ``plan``, ``records`` and (when there is one) ``ledger`` of ``run`` into
    ``out_dir`` as ``.parquet`` or ``.csv``, a batch at a time; returns the files written."""
    if file_format not in FORMATS:
        raise ValueError(f"--format {file_format!r}: use one of {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, source in _tables(RunPaths(Path(run))).items():
        if source is None:
            continue
        schema, batches = source
        path = out_dir / f"{name}.{file_format}"
        if file_format == "parquet":
            with pq.ParquetWriter(path, schema, compression="zstd") as writer:
                for batch in batches:
                    writer.write_batch(batch)
        else:
            text_schema = _as_text(pa.RecordBatch.from_pylist([], schema=schema)).schema
            with pacsv.CSVWriter(path, text_schema) as writer:
                for batch in batches:
                    writer.write_batch(_as_text(batch))
        written.append(path)
    return written
