"""The bounded-memory summary (DuckDB over the run's files) gives the in-memory summary's
figures: on a real run against the mock, and on a hand-made run with every edge the
in-memory code handles (retries, drops, requests in flight, unrecorded and unplanned ids)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.rebuild
from harness.contract.records import AttemptRecord, PlannedRequest, write_jsonl
from harness.contract.terms import Slo
from harness.cost import load_price_book
from harness.metrics.percentiles import stats, stats_from_counts
from harness.metrics.summary import SummaryInputs, summarize
from harness.run_dir import RunPaths
from harness.runner import RunResult
from harness.store.appender import RecordAppender
from harness.store.summary import NOT_COMPUTED_NOTE, summarize_files

#: What the bounded-memory summary leaves null (its docstring says so).
NOT_COMPUTED = {
    "upstream_attempts", "retry_amplification", "token_amplification", "gateway_overhead_ms",
    "upstream_lag_ms", "ledger_source", "cost_usd_total", "cost_per_1k_requests_usd",
    "wasted_cost_usd", "prices", "unpriced_models", "cost_source", "notes",
    "by_requested_model", "by_upstream_deployment", "by_tenant", "by_workload", "by_api",
    "gateway_cache_hit_rate", "gateway_cache", "probe_block_rate", "probe_false_positive_rate",
    "probes",
}  # fmt: skip


def _same(today: Any, streamed: Any, where: str) -> None:
    if isinstance(today, dict):
        assert set(today) == set(streamed), where
        for key in today:
            _same(today[key], streamed[key], f"{where}.{key}")
    elif isinstance(today, float) and isinstance(streamed, float):
        assert math.isclose(today, streamed, rel_tol=1e-9, abs_tol=1e-12), where
    else:
        assert today == streamed, where


def _compare(paths: RunPaths, inputs: SummaryInputs) -> dict[str, Any]:
    today = summarize(inputs)
    empty = SummaryInputs(**_without_files(inputs))
    streamed = summarize_files(paths, empty, len(inputs.records))
    assert set(today) == set(streamed)
    for key in set(today) - NOT_COMPUTED:
        _same(today[key], streamed[key], key)
    assert [n for n in streamed["notes"] if "bounded memory" not in n] == [
        n for n in today["notes"] if "ledger" not in n
    ]
    return streamed


def _without_files(inputs: SummaryInputs) -> dict[str, Any]:
    fields = {name: getattr(inputs, name) for name in inputs.__slots__}  # type: ignore[attr-defined]
    return {**fields, "plan": (), "records": (), "ledger": None}


def test_a_real_run_gives_the_same_figures(small_run: RunResult) -> None:
    from harness.contract.records import LedgerEntry, read_jsonl

    paths = small_run.paths
    plan = list(read_jsonl(paths.plan, PlannedRequest))
    records = list(read_jsonl(paths.records, AttemptRecord))
    inputs = _inputs(plan, records, Slo(ttft=0.2))
    del LedgerEntry
    _compare(paths, inputs)


def _inputs(
    plan: list[PlannedRequest], records: list[AttemptRecord], slo: Slo, **more: Any
) -> SummaryInputs:
    return SummaryInputs(
        run_id="x",
        duration_s=2.0,
        plan=plan,
        records=records,
        ledger=None,
        prices=load_price_book({}),
        slo=slo,
        client_cpu_s=more.get("cpu_s", 0.5),
        wall_s=4.0,
    )


def _planned(index: int) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"r{index}",
        session_id=f"s{index}",
        turn=1,
        offset_s=index * 0.05,
        think_s=0.0,
        prompt_tokens=30,
        max_tokens=8,
        model="mock-small",
        api="openai-chat",
        stream=True,
        messages=(),
    )


def _attempt(index: int, attempt: int, rng: np.random.Generator, outcome: str) -> AttemptRecord:
    scheduled = round(index * 0.05 + attempt * 0.3, 6)
    sent = None if outcome in ("dropped", "cancelled_unsent") else round(scheduled + 0.001, 6)
    ok = outcome == "ok"
    streamed = outcome in ("ok", "stream_cut", "cancelled")
    first = round(sent + rng.uniform(0.01, 0.3), 6) if sent is not None and streamed else None
    times: list[float] = []
    if first is not None:
        now_us = round(first * 1e6)
        for _ in range(int(rng.integers(0, 9))):
            now_us += int(rng.choice([0, 1, 1500, 20_000, int(rng.integers(1, 90_000))]))
            times.append(now_us / 1e6)
    done = (
        None if outcome == "cancelled" or sent is None else round((times or [sent])[-1] + 0.002, 6)
    )
    usage = rng.choice(["server", "client", None]) if ok else None
    return AttemptRecord(
        request_id=f"r{index}",
        session_id=f"s{index}",
        turn=1,
        attempt=attempt,
        scheduled_s=scheduled,
        sent_s=sent,
        first_byte_s=first,
        first_token_s=first,
        done_s=done,
        status_code=200 if ok else (None if sent is None else 500),
        outcome="cancelled" if outcome == "cancelled_unsent" else outcome,
        prompt_tokens=30 if usage is not None else None,
        completion_tokens=None if usage is None else len(times) + 1,
        cached_tokens=int(rng.integers(0, 20)) if usage == "server" else None,
        usage_source=None if usage is None else str(usage),
        model="mock-small",
        deployment="d",
        error_detail=None,
        token_times_s=tuple(times),
        api="openai-chat",
        planned_prompt_tokens=30 if sent is not None else None,
        cache_write_tokens=int(rng.integers(0, 3)) if usage == "server" else None,
    )


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_a_hand_made_run_with_every_edge_gives_the_same_figures(seed: int, size: int) -> None:
    import tempfile

    rng = np.random.default_rng(seed)
    outcomes = ["ok", "ok", "ok", "http_5xx", "stream_cut", "dropped", "cancelled"]
    plan = [_planned(i) for i in range(size)]
    records: list[AttemptRecord] = []
    for index in range(size + 2):  # two request ids the plan does not hold
        if rng.random() < 0.1:
            continue  # planned, never recorded
        for attempt in range(1, int(rng.integers(1, 4)) + 1):
            records.append(_attempt(index, attempt, rng, str(rng.choice(outcomes))))
    rng.shuffle(records)  # records come in the order attempts end
    with tempfile.TemporaryDirectory() as folder:
        paths = RunPaths(Path(folder))
        write_jsonl(paths.plan, plan)
        appender = RecordAppender(paths.records, lambda: 0.0, chunk_rows=7)
        for record in records:
            appender.append(record)  # chunks of 7 and a JSONL tail
        slo = Slo(ttft=0.15, e2e=0.3, tpot=0.01)
        _compare(paths, _inputs(plan, records, slo, cpu_s=float(rng.choice([0.5, 3.9]))))
        appender.close()


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
    assert NOT_COMPUTED_NOTE.format(n=attempts) in summary["notes"]
    assert any("charts are drawn from about one attempt in every 3" in n for n in summary["notes"])
    assert summary["requests_ok"] == small_run.summary["requests_ok"]
    assert summary["ttft_ms"] == small_run.summary["ttft_ms"]
    assert summary["cost_usd_total"] is None  # unknown here, never 0
    assert "TTFT" in paths.report_html.read_text()
    # The soak views read the records batch by batch, without token times, to the same figures.
    assert summary["soak"] == small_run.summary["soak"]
