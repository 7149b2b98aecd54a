"""Comparisons of hand-made runs: a known difference is significant, an identical pair is not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from harness.compare import compare_runs, incompatibilities, render_html, render_markdown
from harness.stats.request_samples import cache_hits, good_requests
from harness.stats.run_data import RunData

MakeRun = Callable[..., RunData]


def _run(
    make_run: MakeRun,
    req: Any,
    label: str,
    seed: int,
    ttft_s: float,
    failures: int = 0,
    burst: bool = False,
    **kw: Any,
) -> RunData:
    """300 answered requests over 30 s, and ``failures`` failed ones spread among them (or in
    one burst after them)."""
    rng = np.random.default_rng(seed)
    ok = [
        req(float(t), float(t) + 0.3, at_s=1 + i * 0.1)
        for i, t in enumerate(rng.lognormal(np.log(ttft_s), 0.2, 300))
    ]
    bad = [
        req(0.0, 0.01, at_s=40 + i * 0.1 if burst else 1.05 + i * 30 / failures, outcome="http_5xx")
        for i in range(failures)
    ]
    return make_run(ok + bad, label, **kw)


def _by_key(run: RunData, reference: RunData) -> dict[str, Any]:
    comparison = compare_runs([reference, run], np.random.default_rng(0))
    return {d.key: d for d in comparison.differences[run.label]}


def test_a_known_latency_difference_is_significant(make_run: MakeRun, req: Any) -> None:
    base = _run(make_run, req, "base", 1, 0.05)
    slow = _run(make_run, req, "slow", 2, 0.065)
    diffs = _by_key(slow, base)
    for key in ("ttft_p50_ms", "e2e_p50_ms"):
        d = diffs[key]
        assert d.significant is True, d
        assert d.ci_low is not None and d.ci_low > 0
        assert d.rank_p_value is not None and d.rank_p_value < 0.01
    assert diffs["ttft_p50_ms"].difference == pytest.approx(
        slow.summary["ttft_ms"]["p50"] - base.summary["ttft_ms"]["p50"]
    )


def test_an_identical_pair_shows_no_significant_difference(make_run: MakeRun, req: Any) -> None:
    base = _run(make_run, req, "base", 1, 0.05)
    again = _run(make_run, req, "again", 1, 0.05)
    diffs = _by_key(again, base)
    assert not any(d.significant for d in diffs.values())
    assert diffs["ttft_p99_ms"].difference == 0.0


def test_two_samples_of_one_distribution_are_not_significant(make_run: MakeRun, req: Any) -> None:
    diffs = _by_key(_run(make_run, req, "b", 2, 0.05), _run(make_run, req, "a", 1, 0.05))
    assert diffs["ttft_p50_ms"].significant is False
    assert diffs["e2e_p50_ms"].significant is False


def test_error_rate_difference(make_run: MakeRun, req: Any) -> None:
    base = _run(make_run, req, "base", 1, 0.05, failures=3)
    worse = _run(make_run, req, "worse", 1, 0.05, failures=60)
    d = _by_key(worse, base)["error_rate"]
    assert d.significant is True
    assert d.difference == pytest.approx(60 / 360 - 3 / 303)


def test_one_burst_of_failures_is_one_event(make_run: MakeRun, req: Any) -> None:
    # The same 60 failures back to back: resampled in time blocks they are one event, which
    # may or may not come back, so the difference is no longer significant.
    base = _run(make_run, req, "base", 1, 0.05, failures=3)
    burst = _run(make_run, req, "burst", 1, 0.05, failures=60, burst=True)
    d = _by_key(burst, base)["error_rate"]
    assert d.difference == pytest.approx(60 / 360 - 3 / 303)
    assert d.blocks is not None and d.blocks[1] > 20
    assert d.significant is False and d.ci_low is not None and d.ci_low <= 0 < d.difference
    markdown = render_markdown(compare_runs([base, burst], np.random.default_rng(0)), [])
    assert f"{d.blocks[0]} / {d.blocks[1]}" in markdown and "block bootstrap" in markdown


def test_goodput_gets_an_interval_and_a_test(make_run: MakeRun, req: Any) -> None:
    def run(label: str, failed: int) -> RunData:
        return make_run(
            [
                req(
                    0.05,
                    0.3,
                    at_s=1 + i * 0.1,
                    outcome="http_5xx" if i % 5 == 0 and i < 5 * failed else "ok",
                )
                for i in range(300)
            ],
            label,
        )

    base, worse = run("base", 0), run("worse", 60)
    samples = good_requests(worse)
    assert samples is not None
    assert float(np.mean(samples.values)) == pytest.approx(worse.summary["goodput_rps"])
    d = _by_key(worse, base)["goodput_rps"]
    assert d.difference == pytest.approx(-60 / 60.0)
    assert d.significant is True and d.ci_low is not None and d.ci_high is not None
    assert d.ci_low <= d.difference <= d.ci_high < 0
    assert _by_key(run("again", 0), base)["goodput_rps"].significant is False


def _cached(run: RunData, share: float, label: str) -> RunData:
    records = tuple(
        replace(r, cached_tokens=int((r.prompt_tokens or 0) * share)) for r in run.records or ()
    )
    cached = sum(r.cached_tokens or 0 for r in records)
    prompt = sum(r.prompt_tokens or 0 for r in records)
    return replace(
        run,
        label=label,
        records=records,
        summary={**run.summary, "run_id": label, "cache_hit_rate": cached / prompt},
    )


def test_cache_hit_rate_gets_an_interval_and_a_test(make_run: MakeRun, req: Any) -> None:
    plain = _run(make_run, req, "plain", 1, 0.05)
    cold, warm = _cached(plain, 0.0, "cold"), _cached(plain, 0.5, "warm")
    samples = cache_hits(warm)
    assert samples is not None
    assert float(np.mean(samples.values)) == pytest.approx(warm.summary["cache_hit_rate"])
    d = _by_key(warm, cold)["cache_hit_rate"]
    assert d.significant is True and d.difference == pytest.approx(0.5)
    assert _by_key(_cached(plain, 0.0, "cold2"), cold)["cache_hit_rate"].significant is False


def test_time_to_recover_is_compared_per_fault_window(make_run: MakeRun, req: Any) -> None:
    def with_windows(label: str, *recoveries: float | None) -> RunData:
        run = _run(make_run, req, label, 1, 0.05)
        windows = [
            {"label": "http_503", "start_s": 10.0 * i, "end_s": 10.0 * i + 5, "recovery_s": r}
            for i, r in enumerate(recoveries, start=1)
        ]
        return replace(run, summary={**run.summary, "fault_windows": windows})

    base, other = with_windows("base", 2.0, 4.0), with_windows("other", 5.0)
    comparison = compare_runs([base, other], np.random.default_rng(0))
    assert comparison.values["recovery_s_1"] == (2.0, 5.0)
    assert comparison.values["recovery_s_2"] == (4.0, None)
    diffs = {d.key: d for d in comparison.differences["other"]}
    assert diffs["recovery_s_1"].difference == pytest.approx(3.0)
    assert diffs["recovery_s_1"].significant is None  # one figure per run: no test
    assert diffs["recovery_s_2"].difference is None
    markdown = render_markdown(comparison, [])
    assert "time to recover after http_503 (10-15 s)" in markdown and "+3.0 s" in markdown
    plain = compare_runs(
        [_run(make_run, req, "a", 1, 0.05), _run(make_run, req, "b", 1, 0.05)],
        np.random.default_rng(0),
    )
    assert not any(f.key.startswith("recovery") for f in plain.figures)


def test_runs_of_different_workloads_are_refused(make_run: MakeRun, req: Any) -> None:
    a = _run(make_run, req, "a", 1, 0.05)
    b = _run(make_run, req, "b", 1, 0.05, plan_sha256="other")
    problems = incompatibilities([a, b])
    assert len(problems) == 1 and "different workload" in problems[0] and "b" in problems[0]
    assert incompatibilities([a, _run(make_run, req, "c", 2, 0.05)]) == []
    assert incompatibilities([a]) != []
    assert any("same label" in p for p in incompatibilities([a, a]))


def test_renderings_name_every_run_and_escape_html(make_run: MakeRun, req: Any) -> None:
    base = _run(make_run, req, "base<1>", 1, 0.05)
    slow = _run(make_run, req, "slow", 2, 0.065)
    comparison = compare_runs([base, slow], np.random.default_rng(0))
    markdown = render_markdown(comparison, [])
    html = render_html(comparison, ["a note & more"])
    assert "slow minus base&lt;1&gt;" in markdown
    assert "base&lt;1&gt;" in html and "base<1>" not in html and "a note &amp; more" in html
    assert "<script" not in html and "http" not in html.split("<body>")[1]
    assert "significant: TTFT p50" in markdown
