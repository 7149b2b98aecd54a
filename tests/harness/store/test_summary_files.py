"""The bounded-memory summary (DuckDB over the run's files) gives the in-memory summary's
figures, every one of them: on a real run against the mock (with its ledger), and on a
hand-made run with every edge the in-memory code handles (retries, drops, requests in flight,
unrecorded and unplanned ids) and no ledger. ``test_summary_upstream.py`` adds ledgers."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.rebuild
from harness.contract.records import AttemptRecord, LedgerEntry, PlannedRequest, read_jsonl
from harness.contract.terms import Slo
from harness.metrics.percentiles import stats, stats_from_counts
from harness.run_dir import RunPaths
from harness.runner import RunResult
from harness.store.summary import BOUNDED_NOTE
from tests.harness.store.handmade_run import (
    UPSTREAM_KEYS,
    attempts,
    compare,
    inputs_of,
    planned,
    same,
    write_run,
)


def test_a_real_run_gives_the_same_figures(small_run: RunResult) -> None:
    paths = small_run.paths
    plan = list(read_jsonl(paths.plan, PlannedRequest))
    records = list(read_jsonl(paths.records, AttemptRecord))
    ledger = list(read_jsonl(paths.ledger, LedgerEntry))
    assert ledger and any(r.outcome != "ok" for r in records)  # the flaky mock failed some
    inputs = inputs_of(
        plan,
        records,
        Slo(ttft=0.2),
        ledger,
        ledger_origin="embedded",
        ledger_url="u",
        run_id=small_run.summary["run_id"],
    )
    streamed = compare(paths, inputs)
    assert streamed["cost_source"] == "ledger" and streamed["cost_usd_total"] > 0
    assert streamed["upstream_attempts"] == len(ledger)
    assert streamed["gateway_overhead_ms"]["count"] > 0
    assert streamed["gateway_cache"] is not None


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_a_hand_made_run_with_every_edge_gives_the_same_figures(seed: int, size: int) -> None:
    """Without a ledger: cost and the upstream splits are the client's attempts'."""
    import tempfile

    rng = np.random.default_rng(seed)
    plan = [planned(i) for i in range(size)]
    records = attempts(size, rng)
    with tempfile.TemporaryDirectory() as folder:
        paths, appender = write_run(Path(folder), plan, records)
        slo = Slo(ttft=0.15, e2e=0.3, tpot=0.01)
        streamed = compare(
            paths, inputs_of(plan, records, slo, cpu_s=float(rng.choice([0.5, 3.9])))
        )
        appender.close()
    assert streamed["cost_source"] == "client" and streamed["upstream_attempts"] is None


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 40))
def test_a_plan_naming_requests_on_several_lines_gives_the_same_figures(
    seed: int, size: int
) -> None:
    """A request id on several plan lines is its first line's (model, API, tags, repeat),
    with its last line's model where the answer names none: as in memory."""
    import tempfile

    rng = np.random.default_rng(seed)
    plan = [planned(i, rng) for i in range(size)]
    for index in rng.choice(size, size=int(rng.integers(1, size + 1)), replace=True):
        plan.insert(int(rng.integers(int(index) + 1, len(plan) + 1)), planned(int(index), rng))
    records = attempts(size, rng, varied=True)
    with tempfile.TemporaryDirectory() as folder:
        paths, appender = write_run(Path(folder), plan, records)
        streamed = compare(paths, inputs_of(plan, records, Slo(ttft=0.15)))
        appender.close()
    named = {p.request_id for p in plan} | {r.request_id for r in records}
    assert len(plan) > size and streamed["requests_planned"] == len(named)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 200_000), min_size=1, max_size=300))
def test_percentiles_from_counts_equal_those_of_the_samples(gaps_us: list[int]) -> None:
    values, counts = np.unique(np.asarray(gaps_us), return_counts=True)
    expected = stats(np.asarray(gaps_us) / 1e6, scale=1000.0)
    found = stats_from_counts(values / 1e6, counts, scale=1000.0)
    for key, value in expected.items():
        assert math.isclose(found[key], value, rel_tol=1e-12, abs_tol=1e-12), key


def test_report_takes_the_bounded_path_above_its_threshold(
    small_run: RunResult, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(harness.rebuild, "STREAMED_ABOVE_ATTEMPTS", 10)
    monkeypatch.setattr(harness.rebuild, "CHART_SAMPLE_ATTEMPTS", 20)
    paths = RunPaths(tmp_path / "copy")
    shutil.copytree(small_run.paths.root, paths.root)
    summary = harness.rebuild.rebuild_run(paths)
    attempts = sum(summary["attempt_outcomes"].values())
    assert BOUNDED_NOTE.format(n=attempts) in summary["notes"]
    assert any("charts are drawn from about one attempt in every 3" in n for n in summary["notes"])
    assert summary["requests_ok"] == small_run.summary["requests_ok"]
    assert summary["ttft_ms"] == small_run.summary["ttft_ms"]
    # Cost, upstream, gateway-cache figures and splits as the in-memory report gave them.
    assert summary["cost_source"] == "ledger"
    for key in (*UPSTREAM_KEYS, "by_requested_model", "by_upstream_deployment", "by_api"):
        same(small_run.summary[key], summary[key], key)
    assert "TTFT" in paths.report_html.read_text()
    # The soak views read the records' columns to the same figures (costs summed per group of
    # equal attempts: equal up to float rounding).
    same(small_run.summary["soak"], summary["soak"], "soak")
