"""A run's files as DuckDB views, queried out of core: attempts from the Parquet chunks (and
the JSONL tail, written to temporary chunks first), the plan from ``plan.jsonl``.

Views: ``att`` (one row per attempt record, in file order, with the per-attempt timings of
``harness.metrics.latency`` as columns), ``plan`` (one row per distinct request id, the
fields of its first line: offset, model, API, the tags the splits use, repeat and
similarity; and ``last_model``, the model of its last line) and, when the run has a
``ledger.jsonl``, ``ledger`` (its lines, numbered in file order by ``line``). DuckDB keeps
under ``memory_limit`` and spills to ``temp_dir`` beyond it, so a run of any size is
summarised in bounded memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from harness.run_dir import RunPaths
from harness.store.chunks import chunk_dir, chunk_files, jsonl_end_of, tail_batches
from harness.store.json_sources import PLAN_COLUMNS, json_lines, quoted
from harness.store.ledger_copy import ledger_view_source
from harness.store.schema import RECORD_ARROW_SCHEMA

#: DuckDB's own memory for a summary (it spills to disk beyond that).
MEMORY_LIMIT = "600MB"

# Per-attempt timings, exactly as harness.metrics.latency defines them (the equality is
# tested against the in-memory summary). A time rebuilt from microsecond gaps is the
# integer microsecond count divided by 1e6, the very float the engine wrote.
_ATTEMPT_VIEW = """
CREATE VIEW att AS
SELECT *,
  sent_s IS NOT NULL AS sent,
  outcome = 'ok' AND sent_s IS NOT NULL AS ok,
  first_token_s - sent_s AS ttft_s,
  first_token_s - scheduled_s AS ttft_corrected_s,
  done_s - sent_s AS e2e_s,
  done_s - scheduled_s AS e2e_corrected_s,
  sent_s - scheduled_s AS schedule_lag_s,
  CASE WHEN first_token_s IS NULL THEN 0 ELSE 1 + len(token_gaps_us) END AS content_events,
  CASE WHEN first_token_s IS NULL THEN NULL
       WHEN len(token_gaps_us) = 0 THEN first_token_s
       ELSE (round(first_token_s * 1e6)::BIGINT + list_sum(token_gaps_us)) / 1e6
  END AS last_token_s
FROM att_raw
"""
_TPOT_VIEW = """
CREATE VIEW att_t AS
SELECT *,
  coalesce(completion_tokens, content_events) AS output_tokens,
  CASE WHEN first_token_s IS NULL OR coalesce(completion_tokens, content_events) < 2 THEN NULL
       ELSE (last_token_s - first_token_s) / (coalesce(completion_tokens, content_events) - 1)
  END AS tpot_s
FROM att
"""


def count_attempts(paths: RunPaths) -> int:
    """Attempt records of a run: the chunks' row counts and the JSONL tail's lines."""
    rows, start = 0, 0
    for chunk in chunk_files(chunk_dir(paths.records)):
        rows += pq.read_metadata(chunk).num_rows
        start = max(start, jsonl_end_of(chunk))
    if paths.records.exists():
        with paths.records.open("rb") as handle:
            handle.seek(start)
            rows += sum(1 for line in handle if line.strip())
    return rows


def _tail_files(paths: RunPaths, folder: Path, chunks: list[Path]) -> list[Path]:
    """The records after the last chunk (a killed run's last seconds), as temporary chunks."""
    written: list[Path] = []
    for number, batch in enumerate(tail_batches(paths.records, chunks=chunks)):
        path = folder / f"tail-{number:05d}.parquet"
        pq.write_table(pa.Table.from_batches([batch]), path)
        written.append(path)
    return written


@contextmanager
def run_database(paths: RunPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the views of the module docstring over ``paths``."""
    with tempfile.TemporaryDirectory(prefix="tokenstorm-query-") as folder:
        chunks = chunk_files(chunk_dir(paths.records))
        files = [*chunks, *_tail_files(paths, Path(folder), chunks)]
        con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": folder})
        try:
            con.execute("SET preserve_insertion_order = true")
            con.execute("SET enable_progress_bar = false")  # the CLI says what it does
            if files:
                listed = ", ".join(f"'{quoted(p)}'" for p in files)
                con.execute(f"CREATE VIEW att_raw AS SELECT * FROM read_parquet([{listed}])")
            else:
                empty = RECORD_ARROW_SCHEMA.empty_table()
                con.register("att_empty", empty)
                con.execute("CREATE VIEW att_raw AS SELECT * FROM att_empty")
            con.execute(_ATTEMPT_VIEW)
            con.execute(_TPOT_VIEW)
            _plan_view(con, paths.plan)
            _ledger_view(con, paths)
            yield con
        finally:
            con.close()


def _plan_view(con: duckdb.DuckDBPyConnection, plan: Path) -> None:
    """The ``plan`` view. A request id on one line only (every id of a plan tokenstorm
    wrote) is that line; the few ids on several lines are grouped into one row of their
    first line's fields and their last line's model. Grouping every line (the general case)
    costs three times as much on a large plan, so the ids on several lines are found first
    (usually none) and only they are grouped. A view: nothing is read until a query asks."""
    source = json_lines(plan, PLAN_COLUMNS)
    fields = (
        "request_id, offset_s, model, api, tags, tags->>'tenant' AS tenant, "
        "tags->>'workload' AS workload, tags->>'class' AS class, repeat_of, similarity"
    )
    # Each field of a request's first line (a struct, so that a null is kept, not skipped).
    first = "{" + ", ".join(f"'{name}': {name}" for name in PLAN_COLUMNS) + "}"
    unpacked = ", ".join(f"first.{name} AS {name}" for name in PLAN_COLUMNS)
    grouped = (
        f"SELECT request_id, arg_min({first}, rowid) AS first, "
        "arg_max({'model': model}, rowid).model AS last_model "
        f"FROM (SELECT *, row_number() OVER () AS rowid FROM {source}) "
        "SEMI JOIN dups USING (request_id) GROUP BY request_id"
    )
    con.execute(
        "CREATE VIEW plan AS WITH dups AS MATERIALIZED "
        f"(SELECT request_id FROM {source} GROUP BY request_id HAVING count(*) > 1) "
        f"SELECT {fields}, model AS last_model FROM {source} ANTI JOIN dups USING (request_id) "
        f"UNION ALL SELECT {fields}, last_model "
        f"FROM (SELECT {unpacked}, last_model FROM ({grouped}))"
    )


def _ledger_view(con: duckdb.DuckDBPyConnection, paths: RunPaths) -> None:
    source = ledger_view_source(paths)
    if source is not None:
        con.execute(f"CREATE VIEW ledger AS {source}")


def has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the run of ``con`` has a ledger (a ``ledger`` view)."""
    return bool(scalar(con, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'ledger'"))


def scalar(con: duckdb.DuckDBPyConnection, sql: str, *parameters: Any) -> Any:
    """The first column of the first row of ``sql``, or None without a row (every row is
    fetched: a result left unfinished blocks the connection's relations)."""
    rows = con.execute(sql, list(parameters)).fetchall()
    return rows[0][0] if rows else None


def counts(con: duckdb.DuckDBPyConnection, sql: str, *parameters: Any) -> dict[str, int]:
    """``sql``'s rows of (value, count) as a dict sorted by value."""
    rows = con.execute(sql, list(parameters)).fetchall()
    return {str(key): int(n) for key, n in sorted(rows)}
