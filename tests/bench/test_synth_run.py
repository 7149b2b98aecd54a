"""The benchmarks' synthetic run stays a run the product reads: every column of the record
schema is written, and ``tokenstorm report`` summarises it (a bench that rots fails here, not on
the day its figure is needed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from harness.rebuild import rebuild_run
from harness.run_dir import RunPaths
from harness.store.chunks import read_records

_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "synth_run.py"


def _synth_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("synth_run", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_synthetic_run_reads_back_and_reports(tmp_path: Path) -> None:
    attempts = _synth_module().synthesise(tmp_path / "run", 500)
    paths = RunPaths(tmp_path / "run")
    records = list(read_records(paths.records))
    assert len(records) == attempts > 400
    assert {r.finish_reason for r in records if r.outcome == "ok"} == {"stop"}
    summary = rebuild_run(paths, reports=False)
    assert summary["client_attempts"] == attempts
    assert json.loads(paths.summary.read_text())["requests_ok"] == summary["requests_ok"] > 0
