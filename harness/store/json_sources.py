"""The JSON lines files of a run as DuckDB relations: the plan's and the ledger's fields
with their DuckDB types (``harness.contract.records``), read by DuckDB's JSON reader."""

from __future__ import annotations

from pathlib import Path


def quoted(path: Path) -> str:
    return str(path).replace("'", "''")


#: Plan fields the views read, with their DuckDB types.
PLAN_COLUMNS = {
    "request_id": "VARCHAR",
    "offset_s": "DOUBLE",
    "model": "VARCHAR",
    "api": "VARCHAR",
    "tags": "JSON",
    "repeat_of": "VARCHAR",
    "similarity": "DOUBLE",
}
#: Ledger fields (``LedgerEntry``), with their DuckDB types.
LEDGER_COLUMNS = {
    "run_id": "VARCHAR",
    "request_id": "VARCHAR",
    "attempt": "BIGINT",
    "received_s": "DOUBLE",
    "deployment": "VARCHAR",
    "model": "VARCHAR",
    "api": "VARCHAR",
    "prompt_tokens": "BIGINT",
    "cached_tokens": "BIGINT",
    "cache_write_tokens": "BIGINT",
    "completion_tokens": "BIGINT",
    "fault": "VARCHAR",
    "outcome": "VARCHAR",
    "status_code": "BIGINT",
    "service_ms": "DOUBLE",
    "lag_ms": "DOUBLE",
}


def json_lines(path: Path, columns: dict[str, str]) -> str:
    """A relation over the JSON lines file ``path`` (no rows when it is empty or missing)."""
    if path.exists() and path.stat().st_size > 0:
        typed = ", ".join(f"{name}: '{kind}'" for name, kind in columns.items())
        return f"read_json('{quoted(path)}', format = 'newline_delimited', columns = {{{typed}}})"
    nulls = ", ".join(f"NULL::{kind} AS {name}" for name, kind in columns.items())
    return f"(SELECT {nulls} WHERE false)"
