"""Parquet chunks of attempt records: written as a run goes, read back with the JSONL tail.

A chunk is written to ``part-NNNNN.parquet.tmp`` and renamed into place, so a chunk file is
either whole or absent, whenever the process dies. Its key-value metadata
``tokenstorm.jsonl_end`` is the byte offset of ``records.jsonl`` just after the chunk's last
record. ``record_batches`` yields every chunk, then the records of ``records.jsonl`` after the
last chunk's offset (all of it for a run made before chunks existed), so nothing that reached
the JSONL file is missed and nothing is read twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from harness.contract.records import AttemptRecord, RecordFileError, from_dict
from harness.store.schema import RECORD_ARROW_SCHEMA, from_batch, to_batch

#: A chunk is written when it holds this many records ...
CHUNK_ROWS = 50_000
#: ... or when its oldest record waited this long (run-clock seconds).
CHUNK_AGE_S = 60.0
#: Parquet compression of the chunks (chosen by bench/records_format.py).
COMPRESSION = "zstd"
_OFFSET_KEY = b"tokenstorm.jsonl_end"
_SLICE_ROWS = 2048


def chunk_dir(records_path: Path) -> Path:
    """Where the chunks of ``records.jsonl`` live: ``records.parquet.d`` beside it."""
    return records_path.with_name("records.parquet.d")


def chunk_files(directory: Path) -> list[Path]:
    """The finished chunks of a run, in the order they were written."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob("part-*.parquet"))


class ChunkWriter:
    """Buffers records and writes them as a Parquet chunk every ``max_rows`` records or
    ``max_age_s`` seconds of ``clock_s`` (checked when a record comes).

    The caller's thread only appends to a list: turning a chunk into Arrow columns,
    compressing and writing it happen on one background thread, chunk after chunk, so the
    event loop is held for at most a thread switch interval (5 ms) at a time.
    After a failed write no later chunk is written (its offset would hide the failed chunk's
    records from the JSONL tail), and the error is raised by the next ``add``, ``flush`` or
    ``close``.
    """

    def __init__(
        self,
        directory: Path,
        clock_s: Callable[[], float],
        *,
        max_rows: int = CHUNK_ROWS,
        max_age_s: float = CHUNK_AGE_S,
    ) -> None:
        self._directory = directory
        self._clock_s = clock_s
        self._max_rows = max_rows
        self._max_age_s = max_age_s
        self._buffer: list[AttemptRecord] = []
        self._oldest_s = 0.0
        self._jsonl_end = 0
        self._written = len(chunk_files(directory))
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenstorm-chunks")
        self._pending: list[Future[None]] = []
        self._error: OSError | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, record: AttemptRecord, jsonl_end: int) -> None:
        """Buffer ``record``, whose JSON line ends at byte ``jsonl_end`` of records.jsonl."""
        if not self._buffer:
            self._oldest_s = self._clock_s()
        self._buffer.append(record)
        self._jsonl_end = jsonl_end
        if (
            len(self._buffer) >= self._max_rows
            or self._clock_s() - self._oldest_s >= self._max_age_s
        ):
            self.flush()

    def flush(self) -> None:
        """Hand the buffered records to the writer as one chunk (none when empty)."""
        self._raise_failed()
        if not self._buffer:
            return
        records, number, end = self._buffer, self._written, self._jsonl_end
        self._written += 1
        self._buffer = []  # the writer owns ``records`` now (frozen records, read only)
        self._pending.append(self._writer.submit(self._write, number, records, end))

    def _write(self, number: int, records: list[AttemptRecord], jsonl_end: int) -> None:
        if self._error is not None:
            return
        try:
            # Slices keep each call into Arrow or numpy (which holds the GIL) short, so the
            # event loop's thread gets the interpreter back within milliseconds.
            batches = [
                to_batch(records[i : i + _SLICE_ROWS]) for i in range(0, len(records), _SLICE_ROWS)
            ]
            write_chunk(self._directory, number, batches, jsonl_end)
        except OSError as exc:
            self._error = exc

    def _raise_failed(self) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        if self._error is not None:
            raise self._error

    def settle(self) -> None:
        """Wait until every chunk handed over is written (or failed: raised here)."""
        for future in self._pending:
            future.result()
        self._raise_failed()

    def close(self, *, flush: bool = True) -> None:
        """Write what is buffered (unless ``flush`` is false), wait for the writer, stop it."""
        try:
            if flush:
                self.flush()
            self.settle()
        finally:
            self._writer.shutdown(wait=True)


def write_chunk(
    directory: Path, number: int, batches: list[pa.RecordBatch], jsonl_end: int
) -> Path:
    """Write ``batches`` as chunk ``number`` (whole or not at all); returns its path."""
    metadata = {**(RECORD_ARROW_SCHEMA.metadata or {}), _OFFSET_KEY: str(jsonl_end).encode()}
    table = pa.Table.from_batches(batches, schema=RECORD_ARROW_SCHEMA)
    table = table.replace_schema_metadata(metadata)
    final = directory / f"part-{number:05d}.parquet"
    temporary = final.with_name(final.name + ".tmp")
    pq.write_table(table, temporary, compression=COMPRESSION)
    os.replace(temporary, final)
    return final


def jsonl_end_of(chunk: Path) -> int:
    """The records.jsonl offset a chunk covers up to."""
    metadata = pq.read_schema(chunk).metadata or {}
    return int(metadata.get(_OFFSET_KEY, b"0"))


def _jsonl_tail(path: Path, start: int, rows: int) -> Iterator[list[AttemptRecord]]:
    """Lists of at most ``rows`` records from ``path`` after byte ``start``; a truncated
    last line (a run killed mid-write) is skipped, any other bad line raises."""
    if not path.exists():
        return
    batch: list[AttemptRecord] = []
    with path.open("rb") as handle:
        handle.seek(start)
        for line in handle:
            if not line.strip():
                continue
            try:
                batch.append(from_dict(AttemptRecord, orjson.loads(line)))
            except (orjson.JSONDecodeError, TypeError) as exc:
                if not line.endswith(b"\n") and not handle.read(1):
                    break
                raise RecordFileError(
                    f"{path} at byte {handle.tell() - len(line)}: not a valid AttemptRecord "
                    f"line ({exc})"
                ) from None
            if len(batch) >= rows:
                yield batch
                batch = []
    if batch:
        yield batch


def tail_batches(
    records_path: Path, rows: int = CHUNK_ROWS, chunks: list[Path] | None = None
) -> Iterator[pa.RecordBatch]:
    """The records of ``records.jsonl`` after the offset of the last of ``chunks`` (the
    run's chunks as listed now, by default), as Arrow batches."""
    listed = chunk_files(chunk_dir(records_path)) if chunks is None else chunks
    start = max((jsonl_end_of(chunk) for chunk in listed), default=0)
    for records in _jsonl_tail(records_path, start, rows):
        yield to_batch(records)


def record_batches(records_path: Path, rows: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
    """Every attempt record of a run as Arrow batches: the chunks, then the JSONL tail (the
    chunks listed once, so a chunk written meanwhile by a live run is neither read twice nor
    skipped)."""
    chunks = chunk_files(chunk_dir(records_path))
    for chunk in chunks:
        yield from pq.read_table(chunk).to_batches()
    yield from tail_batches(records_path, rows, chunks)


def has_records(records_path: Path) -> bool:
    """Whether a run kept attempt records: ``records.jsonl``, or its chunks alone (a run
    whose JSON lines were removed to save space, or one synthesised as chunks)."""
    return records_path.exists() or bool(chunk_files(chunk_dir(records_path)))


def read_records(records_path: Path) -> list[AttemptRecord]:
    """Every attempt record of a run, in memory: the chunks (no text to parse) and the tail."""
    return [record for batch in record_batches(records_path) for record in from_batch(batch)]
