"""A columnar copy of a large run's ledger: ``ledger.jsonl`` in, ``ledger.parquet`` beside it
out, so that the summary, gates and comparisons of a run of millions of upstream attempts
read the ledger's columns instead of parsing its JSON each time (parsing was the largest
single cost of reporting ten million attempts).

``ledger.jsonl`` stays the ledger people read and tools exchange; the copy is derived from
it and never the other way. The copy holds the ledger view's columns (``LEDGER_COLUMNS``)
and ``line``, each line's number in file order, and its key-value metadata
``tokenstorm.ledger_source`` names the JSONL file it was made from (size and modification
time): a copy that does not match the ``ledger.jsonl`` beside it is ignored, so an edited or
replaced ledger is read as it is now. The copy is written to a temporary name and renamed
into place, so it is whole or absent; a ledger DuckDB cannot read gets no copy (the summary
then names the bad line from the JSON).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from harness.run_dir import RunPaths
from harness.store.json_sources import LEDGER_COLUMNS, json_lines, quoted

#: Ledgers larger than this get a columnar copy (about 50,000 lines; below it the JSON
#: is parsed in well under a second).
COPY_ABOVE_BYTES = 16 * 1024 * 1024
_SOURCE_KEY = b"tokenstorm.ledger_source"


def ledger_copy_path(paths: RunPaths) -> Path:
    return paths.root / "ledger.parquet"


def _stamp(ledger: Path) -> str:
    status = ledger.stat()
    return f"{status.st_size}:{status.st_mtime_ns}"


def write_ledger_copy(
    paths: RunPaths, memory_limit: str, *, above_bytes: int = COPY_ABOVE_BYTES
) -> bool:
    """Write the copy of ``paths.ledger`` when it is larger than ``above_bytes`` and has no
    current copy; whether a current copy exists afterwards. DuckDB keeps under
    ``memory_limit`` and streams the lines in file order."""
    ledger = paths.ledger
    if not ledger.exists() or ledger.stat().st_size <= above_bytes:
        return False
    if current_copy(paths) is not None:
        return True
    target = ledger_copy_path(paths)
    part = target.with_name(f".{target.name}.tmp")
    stamp = _stamp(ledger)
    try:
        with tempfile.TemporaryDirectory(prefix="tokenstorm-ledger-") as folder:
            con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": folder})
            try:
                con.execute("SET preserve_insertion_order = true")
                con.execute("SET enable_progress_bar = false")
                con.execute(
                    f"COPY (SELECT *, row_number() OVER () AS line "
                    f"FROM {json_lines(ledger, LEDGER_COLUMNS)}) TO '{quoted(part)}' "
                    f"(FORMAT parquet, COMPRESSION zstd, "
                    f"KV_METADATA {{'{_SOURCE_KEY.decode()}': '{stamp}'}})"
                )
            finally:
                con.close()
        part.replace(target)
    except (duckdb.Error, OSError):
        part.unlink(missing_ok=True)
        return False
    return True


def current_copy(paths: RunPaths) -> Path | None:
    """The copy, if it was made from the ``ledger.jsonl`` there now."""
    target = ledger_copy_path(paths)
    if not target.exists() or not paths.ledger.exists():
        return None
    try:
        metadata = pq.read_metadata(target).metadata or {}
    except (OSError, pa.ArrowException):
        return None
    return target if metadata.get(_SOURCE_KEY) == _stamp(paths.ledger).encode() else None


def ledger_view_source(paths: RunPaths) -> str | None:
    """The query the ``ledger`` view is (its columns and ``line``): from the current copy,
    else from the JSON lines; None when the run has no ledger."""
    if not paths.ledger.exists():
        return None
    copy = current_copy(paths)
    if copy is not None:
        return f"SELECT * FROM read_parquet('{quoted(copy)}')"
    return f"SELECT *, row_number() OVER () AS line FROM {json_lines(paths.ledger, LEDGER_COLUMNS)}"
