"""``gateway_overhead_ms`` in a ``[regression]`` row against a direct baseline run: per-attempt
samples (client E2E minus the mock's service time, paired through the ledger), so the row
filters, takes any percentile and gets the bootstrap noise check like any latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from harness.contract.records import LedgerEntry
from harness.gates import Verdict, evaluate, parse_budget
from harness.metrics.percentiles import quantile
from harness.stats.run_data import RunData
from harness.stats.slices import trend_samples

MakeRun = Callable[..., RunData]


def _with_ledger(run: RunData, overhead_ms: np.ndarray) -> RunData:
    """``run`` with a mock's ledger: each attempt served in its E2E less ``overhead_ms``."""
    assert run.records is not None
    entries = []
    for record, extra_ms in zip(run.records, overhead_ms, strict=True):
        assert record.done_s is not None and record.sent_s is not None
        service_ms = (record.done_s - record.sent_s) * 1000.0 - float(extra_ms)
        entries.append(
            LedgerEntry(
                run_id=run.label,
                request_id=record.request_id,
                attempt=record.attempt,
                received_s=record.sent_s,
                deployment="d",
                model="m",
                api="openai-chat",
                stream=True,
                prompt_tokens=100,
                cached_tokens=0,
                completion_tokens=3,
                fault=None,
                outcome="ok",
                status_code=200,
                service_ms=service_ms,
            )
        )
    summary = {**run.summary, "gateway_overhead_ms": {"count": len(entries)}}
    return replace(run, ledger=tuple(entries), summary=summary)


def _run(make_run: MakeRun, req: Any, seed: int, overhead_ms: float, label: str) -> RunData:
    rng = np.random.default_rng(seed)
    e2e = rng.lognormal(np.log(0.2), 0.1, 300)
    run = make_run([req(0.05, float(t), at_s=1.0 + i * 0.05) for i, t in enumerate(e2e)], label)
    return _with_ledger(run, rng.lognormal(np.log(overhead_ms), 0.3, 300))


def _row(expression: str, run: RunData, baseline: RunData) -> Any:
    budget = parse_budget(f'[regression]\n"gateway_overhead_ms" = "{expression}"\n')
    return evaluate(budget, run, baseline, np.random.default_rng(0)).results[-1]


def test_samples_pair_attempts_through_the_ledger(make_run: MakeRun, req: Any) -> None:
    run = _run(make_run, req, 1, 2.0, "direct")
    samples = trend_samples(run, "gateway_overhead_ms")
    assert samples is not None and len(samples.values) == 300
    assert 1.5 < quantile(samples.values, 0.5) < 2.5
    # Without the ledger (or a summary that could not time the run) there are none.
    assert trend_samples(replace(run, ledger=None), "gateway_overhead_ms") is None
    no_figure = replace(run, summary={**run.summary, "gateway_overhead_ms": None})
    assert trend_samples(no_figure, "gateway_overhead_ms") is None


def test_added_overhead_against_a_direct_baseline(make_run: MakeRun, req: Any) -> None:
    direct = _run(make_run, req, 1, 1.0, "direct")
    light = _run(make_run, req, 2, 3.0, "light")  # a gateway adding ~2 ms
    heavy = _run(make_run, req, 3, 9.0, "heavy")  # one adding ~8 ms
    assert _row("avg <= baseline + 5", light, direct).verdict == Verdict.PASS
    failed = _row("avg <= baseline + 5", heavy, direct)
    assert failed.verdict == Verdict.FAIL and "significant breach" in failed.detail
    assert "CI" in failed.detail
    # A near miss inside the noise passes, and says so.
    near = _row("p(50) <= baseline + 2", light, direct)
    assert near.verdict == Verdict.PASS
    assert near.observed is not None and near.limit is not None
    if near.observed > near.limit:
        assert "within noise" in near.detail
