"""Noise-aware regressions on hand-made runs: noise passes, a real slowdown fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.gates import Verdict, evaluate, parse_budget
from harness.stats.run_data import RunData

MakeRun = Callable[..., RunData]


def _run(make_run: MakeRun, req: Any, seed: int, ttft_median_s: float, label: str) -> RunData:
    rng = np.random.default_rng(seed)
    ttfts = rng.lognormal(np.log(ttft_median_s), 0.25, 300)
    return make_run(
        [req(float(t), float(t) + 0.2, at_s=1.0 + i * 0.1) for i, t in enumerate(ttfts)], label
    )


def _regression(expression: str, run: RunData, baseline: RunData) -> Any:
    budget = parse_budget(f'[regression]\n"ttft_ms" = "{expression}"\n')
    return evaluate(budget, run, baseline, np.random.default_rng(0)).results[-1]


def test_a_breach_inside_the_noise_passes(make_run: MakeRun, req: Any) -> None:
    base = _run(make_run, req, 1, 0.05, "base")
    again = _run(make_run, req, 2, 0.05, "again")
    # Whichever of the two is higher, "no slower at all" breaches one way or the other.
    forward = _regression("p(50) <= baseline", again, base)
    backward = _regression("p(50) <= baseline", base, again)
    breached = forward if forward.observed > forward.limit else backward
    assert breached.verdict == Verdict.PASS and "within noise" in breached.detail


def test_a_real_slowdown_fails(make_run: MakeRun, req: Any) -> None:
    base = _run(make_run, req, 1, 0.05, "base")
    slow = _run(make_run, req, 2, 0.08, "slow")
    result = _regression("p(50) <= baseline * 1.10 + 5", slow, base)
    assert result.verdict == Verdict.FAIL and "significant" in result.detail
    assert _regression("p(50) <= baseline * 1.10 + 5", base, slow).verdict == Verdict.PASS


def test_a_lower_bound_regression(make_run: MakeRun, req: Any) -> None:
    base = _run(make_run, req, 1, 0.08, "base")
    fast = _run(make_run, req, 2, 0.05, "fast")
    assert _regression("avg >= baseline * 0.9", fast, base).verdict == Verdict.FAIL
    assert _regression("avg >= baseline * 0.9", base, base).verdict == Verdict.PASS


def test_error_rate_regression_uses_per_request_samples(make_run: MakeRun, req: Any) -> None:
    ok = [req(0.05, 0.2, at_s=1 + i * 0.1) for i in range(200)]

    def failing(n: int) -> list[Any]:
        return [req(0.0, 0.01, at_s=30 + i * 0.1, outcome="http_5xx") for i in range(n)]

    base = make_run(ok + failing(2), "base")
    slightly = make_run(ok + failing(4), "slightly")
    badly = make_run(ok + failing(60), "badly")
    budget = parse_budget('[regression]\n"error_rate" = "rate <= baseline + 0.001"\n')
    noisy = evaluate(budget, slightly, base, np.random.default_rng(0)).results[-1]
    real = evaluate(budget, badly, base, np.random.default_rng(0)).results[-1]
    assert noisy.verdict == Verdict.PASS and "within noise" in noisy.detail
    assert real.verdict == Verdict.FAIL


def test_a_baseline_of_another_workload_is_inconclusive(make_run: MakeRun, req: Any) -> None:
    from dataclasses import replace

    base = replace(_run(make_run, req, 1, 0.05, "base"), plan_sha256="one")
    other = replace(_run(make_run, req, 2, 0.05, "other"), plan_sha256="two")
    result = _regression("p(50) <= baseline * 2", other, base)
    assert result.verdict == Verdict.INCONCLUSIVE and "different workload" in result.detail
    same = replace(other, plan_sha256="one")
    assert _regression("p(50) <= baseline * 2", same, base).verdict == Verdict.PASS


def test_the_budget_says_what_the_baseline_must_share(make_run: MakeRun, req: Any) -> None:
    from dataclasses import replace

    base = _run(make_run, req, 1, 0.05, "base")
    other = _run(make_run, req, 2, 0.05, "other")
    base = replace(base, manifest={**base.manifest, "seed": 1})
    other = replace(other, manifest={**other.manifest, "seed": 2})
    rows = '[regression]\n"ttft_ms" = "p(50) <= baseline * 2"\n'

    def verdict(require_same: str) -> Any:
        budget = parse_budget(rows + f"[baseline]\nrequire_same = {require_same}\n")
        return evaluate(budget, other, base, np.random.default_rng(0)).results[-1]

    assert verdict('["plan"]').verdict == Verdict.PASS  # same plan hash: the default holds
    seeded = verdict('["plan", "seed"]')
    assert seeded.verdict == Verdict.INCONCLUSIVE
    assert "runs base and other differ in seed (1 vs 2)" in seeded.detail
    unknown = verdict('["colour"]')
    assert unknown.verdict == Verdict.INCONCLUSIVE
    assert unknown.detail.startswith("[baseline] require_same colour: no run's manifest")


def test_the_detail_names_the_bootstrap_behind_the_interval(make_run: MakeRun, req: Any) -> None:
    base = _run(make_run, req, 1, 0.05, "base")
    slow = _run(make_run, req, 2, 0.08, "slow")
    steady = _regression("p(50) <= baseline * 1.10 + 5", slow, base)
    assert steady.detail.endswith("(per-sample bootstrap)")
    # Slow only in its second half: its attempts are correlated in time, resampled in blocks.
    ttfts = [0.05] * 150 + [0.09] * 150
    drift = make_run([req(t, t + 0.2, at_s=1.0 + i * 0.1) for i, t in enumerate(ttfts)], "drift")
    drifting = _regression("avg <= baseline", drift, base)
    assert "(block bootstrap: blocks of " in drifting.detail
    assert drifting.detail.endswith(" samples in this run, 1 in the baseline)")
