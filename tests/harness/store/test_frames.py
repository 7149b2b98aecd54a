"""Data out: ``harness.load_run`` gives typed DataFrames equal to the run's files, and
``tokenstorm export`` writes the same tables as Parquet or CSV."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import harness
from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest, read_jsonl
from harness.runner import RunResult


def test_load_run_gives_typed_frames_equal_to_the_files(small_run: RunResult) -> None:
    paths = small_run.paths
    frames = harness.load_run(paths.root)
    records = list(read_jsonl(paths.records, AttemptRecord))
    plan = list(read_jsonl(paths.plan, PlannedRequest))
    ledger = list(read_jsonl(paths.ledger, LedgerEntry))
    assert len(frames.records) == len(records) > 0
    assert len(frames.plan) == len(plan) and len(frames.ledger) == len(ledger)
    assert str(frames.records["completion_tokens"].dtype) == "int32[pyarrow]"
    assert str(frames.records["sent_s"].dtype) == "double[pyarrow]"
    assert str(frames.plan["stream"].dtype) == "bool[pyarrow]"
    assert list(frames.records["request_id"]) == [r.request_id for r in records]
    # unknown stays unknown: a null, never 0
    nulls = [r.completion_tokens is None for r in records]
    assert list(frames.records["completion_tokens"].isna()) == nulls
    first = next(r for r in records if len(r.token_times_s) > 2)
    row = frames.records[frames.records["request_id"] == first.request_id].iloc[0]
    rebuilt = pd.Series(row["token_gaps_us"]).cumsum() / 1e6 + first.first_token_s
    assert list(rebuilt.round(6)) == list(first.token_times_s)


def test_export_writes_parquet_and_csv_tables(small_run: RunResult, tmp_path: object) -> None:
    root = small_run.paths.root
    for file_format in ("parquet", "csv"):
        out = root / f"export-{file_format}"
        command = ["export", str(root), "--format", file_format, "--out", str(out)]
        result = subprocess.run(
            [sys.executable, "-m", "harness.cli.main", *command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in out.iterdir()) == [
            f"{name}.{file_format}" for name in ("ledger", "plan", "records")
        ]
    records = list(read_jsonl(small_run.paths.records, AttemptRecord))
    table = pq.read_table(root / "export-parquet" / "records.parquet")
    assert table.column("request_id").to_pylist() == [r.request_id for r in records]
    csv = pd.read_csv(root / "export-csv" / "records.csv")
    assert len(csv) == len(records)
    assert json.loads(csv["tags"].iloc[0]) == dict(records[0].tags)


def test_export_of_a_directory_that_is_no_run_says_so(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "export", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no manifest.json" in result.stderr and result.stderr.count("\n") == 1


def test_the_readme_example_runs_on_a_run(small_run: RunResult) -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    start = readme.index("```python\nimport harness\n") + len("```python\n")
    code = readme[start : readme.index("```", start)]
    code = code.replace('"results/RUN_ID"', repr(str(small_run.paths.root)))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    assert float(printed.getvalue()) == pytest.approx(small_run.summary["ttft_ms"]["p99"], rel=0.1)
