"""Recovery rows from hand-made records: windows read on the upstream's clock, and a changed
time to recover named on the console line."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from harness.compare import compare_runs
from harness.compare.render import headline
from harness.contract.records import AttemptRecord
from harness.metrics.windows import FaultWindow, window_figures
from harness.stats.run_data import RunData


def _record(sent_s: float, ok: bool, ttft_s: float = 0.05) -> AttemptRecord:
    return AttemptRecord(
        request_id=f"r{sent_s}",
        session_id="s",
        turn=1,
        attempt=1,
        scheduled_s=sent_s,
        sent_s=sent_s,
        first_byte_s=None,
        first_token_s=sent_s + ttft_s if ok else None,
        done_s=sent_s + ttft_s + 0.1,
        status_code=200 if ok else 503,
        outcome="ok" if ok else "http_5xx",
        prompt_tokens=1,
        completion_tokens=1,
        cached_tokens=0,
        usage_source="server",
        model="m",
        deployment="d",
        error_detail=None,
    )


def _records(first_s: float, slow_after_s: float = 0.0) -> list[AttemptRecord]:
    """10 attempts a second from ``first_s``; the upstream fails those from its 5th to its
    10th second (its clock starts at the first request), then answers slowly a while."""
    records = []
    for tenth in range(200):
        upstream_s = tenth / 10
        slow = 10 <= upstream_s < 10 + slow_after_s
        records.append(
            _record(first_s + upstream_s, ok=not 5 <= upstream_s < 10, ttft_s=0.5 if slow else 0.05)
        )
    return records


def test_windows_are_read_on_the_clock_of_the_upstream() -> None:
    [figures] = window_figures(_records(0.7), [FaultWindow(5.0, 10.0, "http_503")])
    assert (figures["start_s"], figures["end_s"], figures["offset_s"]) == (5.0, 10.0, 0.7)
    assert figures["during"]["error_rate"] == 1.0 and figures["during"]["attempts"] == 50
    assert figures["before"]["error_rate"] == 0.0 and figures["after"]["error_rate"] == 0.0
    assert figures["recovery_s"] == 0.0
    # An upstream told the run's start keeps the run's clock: nothing to move.
    [told] = window_figures(_records(0.7), [FaultWindow(5.0, 10.0, "http_503")], True)
    assert told["offset_s"] == 0.0 and told["during"]["error_rate"] < 1.0


def _run(label: str, slow_after_s: float) -> RunData:
    records = _records(0.2, slow_after_s)
    windows = window_figures(records, [FaultWindow(5.0, 10.0, "http_503")])
    return RunData(
        label, {"run_id": label, "fault_windows": windows}, {}, (), tuple(records), None, "plan"
    )


def test_a_changed_recovery_is_a_row_and_a_clause_of_the_headline() -> None:
    quick, again, slow = _run("quick", 0.0), _run("again", 0.0), _run("slow", 3.0)
    comparison = compare_runs([quick, again, slow], np.random.default_rng(0))
    [figure] = [f for f in comparison.figures if f.key.startswith("recovery_s_")]
    assert figure.label == "time to recover after http_503 (5-10 s)"
    assert comparison.values[figure.key] == (0.0, 0.0, 3.0)
    slow_diff = next(d for d in comparison.differences["slow"] if d.key == figure.key)
    assert slow_diff.difference == 3.0 and slow_diff.significant is None
    line = headline("slow", "quick", comparison.differences["slow"])
    assert line.endswith("; recovery: +3.0 s after http_503 (5-10 s)")
    assert "recovery" not in headline("again", "quick", comparison.differences["again"])
    never: Any = [dict(w, recovery_s=None) for w in slow.summary["fault_windows"]]
    stuck = replace(slow, label="stuck", summary={"run_id": "stuck", "fault_windows": never})
    comparison = compare_runs([quick, stuck], np.random.default_rng(0))
    assert headline("stuck", "quick", comparison.differences["stuck"]).endswith(
        "; recovery: did not recover after http_503 (5-10 s)"
    )
