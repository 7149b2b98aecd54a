"""A sample of a run's attempt records for charts of runs too large to draw whole: about one
attempt in ``every``, chosen by a hash of request id and attempt (so the same run always gives
the same sample), read by DuckDB in parallel, in file order."""

from __future__ import annotations

import duckdb

from harness.contract.records import AttemptRecord
from harness.store.schema import from_batch


def sample_records(con: duckdb.DuckDBPyConnection, every: int) -> list[AttemptRecord]:
    """About one record in ``every`` of the ``att_raw`` view of ``harness.store.query``."""
    step = max(int(every), 1)
    table = con.sql(f"SELECT * FROM att_raw WHERE hash(request_id, attempt) % {step} = 0")
    return from_batch(table.to_arrow_table())
