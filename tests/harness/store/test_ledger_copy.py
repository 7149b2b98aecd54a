"""The ledger's columnar copy: the ``ledger`` view reads the same rows from it as from the
JSON lines, the summary from it equals the in-memory summary, a copy of another version of
the ledger is ignored, and a ledger DuckDB cannot read gets no copy and no stray file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.terms import Slo
from harness.run_dir import RunPaths
from harness.store.ledger_copy import current_copy, ledger_copy_path, write_ledger_copy
from harness.store.query import MEMORY_LIMIT, run_database
from tests.harness.store.handmade_run import (
    attempts,
    compare,
    inputs_of,
    ledger_of,
    planned,
    write_run,
)


def _ledger_rows(paths: RunPaths) -> list[tuple[Any, ...]]:
    with run_database(paths) as con:
        return con.execute("SELECT * FROM ledger ORDER BY line").fetchall()


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40))
def test_the_copy_reads_as_the_json_lines_and_summarises_alike(seed: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    plan = [planned(i, rng) for i in range(size)]
    records = attempts(size, rng, varied=True)
    ledger = ledger_of(records, rng, False)
    with tempfile.TemporaryDirectory() as folder:
        paths, appender = write_run(Path(folder), plan, records, ledger)
        from_json = _ledger_rows(paths)
        lines = paths.ledger.stat().st_size > 0  # an empty ledger is no work to copy
        assert write_ledger_copy(paths, MEMORY_LIMIT, above_bytes=0) == lines
        assert current_copy(paths) == (ledger_copy_path(paths) if lines else None)
        assert _ledger_rows(paths) == from_json
        inputs = inputs_of(
            plan,
            records,
            Slo(ttft=0.15),
            ledger,
            ledger_origin="embedded",
            ledger_url="http://127.0.0.1:9/tokenstorm/ledger",
        )
        streamed = compare(paths, inputs)
        appender.close()
    assert streamed["upstream_attempts"] == sum(1 for e in ledger if e.run_id in ("x", None))


def test_a_small_ledger_gets_no_copy_and_a_changed_one_is_read_from_its_lines(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(7)
    records = attempts(20, rng, varied=True)
    paths, appender = write_run(
        tmp_path, [planned(i) for i in range(20)], records, ledger_of(records, rng, False)
    )
    appender.close()
    assert not write_ledger_copy(paths, MEMORY_LIMIT)  # well under the threshold
    assert not ledger_copy_path(paths).exists()
    assert write_ledger_copy(paths, MEMORY_LIMIT, above_bytes=0)
    lines = paths.ledger.read_bytes().splitlines(keepends=True)
    paths.ledger.write_bytes(b"".join(lines[:-1]))  # the ledger changed after its copy
    assert current_copy(paths) is None
    assert len(_ledger_rows(paths)) == len(lines) - 1
    # Same size, other time: still not the file the copy was made from.
    assert write_ledger_copy(paths, MEMORY_LIMIT, above_bytes=0)
    status = paths.ledger.stat()
    os.utime(paths.ledger, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
    assert current_copy(paths) is None


def test_a_ledger_that_is_not_json_gets_no_copy(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path)
    paths.ledger.write_text('{"run_id": "x", "request_id": "r0"}\nnot json\n')
    assert not write_ledger_copy(paths, MEMORY_LIMIT, above_bytes=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.jsonl"]
