"""Noise-aware baseline checks: a ``[regression]`` check and two runs in, one ``GateResult`` out.

``p(99) <= baseline * 1.10 + 25`` first compares the two figures as written. When that
breaches, the breach must also be *real*: both runs' per-sample values (attempts for
latencies, requests for the error rate) are bootstrapped in time-contiguous blocks (see
``harness.stats.bootstrap``), and the check fails only when the one-sided 95 % bound of
``current - (factor * baseline + offset)`` lies beyond zero. A breach inside the noise passes,
and says so; the detail names the method and block lengths behind the interval. Cost per 1k
requests and retry amplification are resampled per sent request (its cost, its upstream
attempts). Figures without per-sample values (total and wasted cost, token amplification,
counters), or whose samples the run cannot give (no ledger naming requests, an unpriced
model), are compared as written, and the result says no noise check was possible.
"""

from __future__ import annotations

import numpy as np

from harness.gates.budget import Check
from harness.gates.catalog import to_metric_unit
from harness.gates.expression import compare
from harness.gates.observe import Observation, observe
from harness.gates.verdicts import GateResult, Verdict
from harness.stats.bootstrap import bootstrap_excess, statistic_for
from harness.stats.run_data import RunData

_UPPER = ("<", "<=")
_LOWER = (">", ">=")


def _result(
    check: Check,
    verdict: Verdict,
    detail: str,
    current: Observation | None = None,
    limit: float | None = None,
    base: float | None = None,
) -> GateResult:
    return GateResult(
        check.section,
        check.key.text,
        check.text,
        verdict,
        observed=None if current is None else current.value,
        limit=limit,
        baseline=base,
        detail=detail,
        strict=check.strict,
        unit=check.info.unit,
        samples=None if current is None else current.count,
    )


def judge_regression(
    check: Check, run: RunData, baseline: RunData | None, min_samples: int, rng: np.random.Generator
) -> GateResult:
    """The verdict of one regression check (see the module docstring)."""
    if baseline is None:
        return _result(check, Verdict.SKIPPED, "no --baseline run given")
    expr = check.expression
    current = observe(run, check.key, check.info, expr.agg, expr.percentile)
    before = observe(baseline, check.key, check.info, expr.agg, expr.percentile)
    for side, obs in (("this run", current), ("baseline", before)):
        if obs.value is None:
            return _result(check, Verdict.INCONCLUSIVE, f"{side}: {obs.reason}", current)
        if expr.agg != "count" and obs.count is not None and obs.count < min_samples:
            return _result(
                check,
                Verdict.INCONCLUSIVE,
                f"{side}: only {obs.count} samples (min_samples {min_samples})",
                current,
            )
    assert current.value is not None and before.value is not None
    factor = expr.baseline_factor if expr.baseline_factor is not None else 1.0
    offset = (
        0.0
        if expr.baseline_offset is None
        else to_metric_unit(check.info, expr.agg, expr.baseline_offset)
    )
    limit = factor * before.value + offset
    if compare(current.value, expr.op, limit):
        return _result(check, Verdict.PASS, "", current, limit, before.value)
    statistic = statistic_for(expr.agg, expr.percentile)
    if (
        expr.op not in (*_UPPER, *_LOWER)
        or statistic is None
        or current.samples is None
        or before.samples is None
        or len(current.samples.values) == 0
        or len(before.samples.values) == 0
    ):
        return _result(
            check,
            Verdict.FAIL,
            "breached (no per-sample data for a noise check)",
            current,
            limit,
            before.value,
        )
    interval = bootstrap_excess(
        current.samples.values, before.samples.values, statistic, rng, factor=factor, offset=offset
    )
    real = interval.low > 0 if expr.op in _UPPER else interval.high < 0
    span = (
        f"excess over the limit {interval.estimate:.4g}, 90% CI [{interval.low:.4g}, "
        f"{interval.high:.4g}] ({interval.method})"
    )
    if real:
        return _result(
            check, Verdict.FAIL, f"significant breach: {span}", current, limit, before.value
        )
    return _result(
        check, Verdict.PASS, f"breach within noise: {span}", current, limit, before.value
    )
