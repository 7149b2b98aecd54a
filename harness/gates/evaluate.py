"""Gate evaluation: a budget, a run (and optionally a baseline run) in, a ``GateReport`` out.

Rows come in three sections: ``validity`` (the summary's own verdict, then schedule lag p99,
dropped requests and client CPU share against the budget's ``[validity]`` limits, or the
run's own limits where the budget sets none), ``thresholds`` and ``regression``. A threshold
with ``over = "30s"`` fails only when the breach is sustained: the run is cut into 1 s slices
by sample time, each slice's aggregate is compared, and the check fails when consecutive
breaching slices cover the whole window. A regression against a baseline that differs in a
field of the budget's ``[baseline] require_same`` (by default the planned workload, its
``plan.jsonl``) is inconclusive. A run that ``abort_on_fail``
stopped gets a failing row saying which check stopped it and when. Pure: no files, no clock; the
RNG for the noise checks is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.gates.budget import Budget, Check
from harness.gates.catalog import to_metric_unit
from harness.gates.expression import compare
from harness.gates.live import abort_result
from harness.gates.observe import aggregate, observe
from harness.gates.regression import judge_regression
from harness.gates.verdicts import VALIDITY, GateReport, GateResult, Verdict
from harness.metrics.validity import ValidityLimits
from harness.stats.columns import Samples
from harness.stats.run_data import RunData
from harness.stats.sameness import RequireSameError, differences

#: Validity limit -> the figure it bounds, the aggregation shown, the figure's unit.
_VALIDITY_FIGURES: tuple[tuple[str, str, str, str | None], ...] = (
    ("max_schedule_lag_p99_ms", "schedule_lag_ms", "p(99)", "ms"),
    ("max_dropped_requests", "requests_dropped", "count", None),
    ("max_client_cpu_share", "client_cpu_share", "value", "ratio"),
    ("max_upstream_lag_p99_ms", "upstream_lag_ms", "p(99)", "ms"),
)
_CLIENT_BOUND = "the load generator was the bottleneck: figures describe the client"
_MOCK_BOUND = "the mock fell behind its own schedule: figures describe the mock"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _validity_figure(summary: Mapping[str, Any], name: str) -> float | None:
    if name in ("schedule_lag_ms", "upstream_lag_ms"):
        lag = summary.get(name)
        return _number(lag.get("p99")) if isinstance(lag, Mapping) else None
    return _number(summary.get(name))


def validity_results(budget: Budget, run: RunData) -> list[GateResult]:
    """The validity rows; any row that does not pass makes the run inconclusive."""
    summary = run.summary
    valid = summary.get("valid") is True
    notes = "; ".join(str(n) for n in summary.get("validity_notes") or ())
    rows = [
        GateResult(
            VALIDITY,
            "valid",
            "== true",
            Verdict.PASS if valid else Verdict.INCONCLUSIVE,
            detail="" if valid else (notes or "the summary says the run is invalid"),
        )
    ]
    own = summary.get("validity_limits")
    defaults = ValidityLimits()
    for limit_name, figure, agg, unit in _VALIDITY_FIGURES:
        found = _number(budget.limits.get(limit_name))
        if found is None and isinstance(own, Mapping):
            found = _number(own.get(limit_name))
        limit = float(getattr(defaults, limit_name)) if found is None else found
        observed = _validity_figure(summary, figure)
        text = f"{agg} <= {limit:g}"
        if observed is None:
            rows.append(
                GateResult(
                    VALIDITY, figure, text, Verdict.SKIPPED, detail="not measured", unit=unit
                )
            )
            continue
        verdict = Verdict.PASS if observed <= limit else Verdict.INCONCLUSIVE
        detail = (
            ""
            if verdict == Verdict.PASS
            else _MOCK_BOUND
            if figure == "upstream_lag_ms"
            else _CLIENT_BOUND
        )
        rows.append(
            GateResult(VALIDITY, figure, text, verdict, observed, limit, detail=detail, unit=unit)
        )
    return rows


def _longest_breach_s(samples: Samples, check: Check, limit: float) -> float:
    """Length of the longest run of consecutive 1 s slices whose aggregate breaches (a
    slice's samples in their order in ``samples``)."""
    if len(samples.values) == 0:
        return 0.0
    seconds = np.floor(samples.times_s)
    order = np.argsort(seconds, kind="stable")
    starts_at, firsts = np.unique(seconds[order], return_index=True)
    slices = np.split(samples.values[order], firsts[1:])
    expr = check.expression
    longest = current = 0
    previous: int | None = None
    for second, values in zip(starts_at.astype(np.int64).tolist(), slices, strict=True):
        value = aggregate(values, expr.agg, expr.percentile)
        breached = value is not None and not compare(value, expr.op, limit)
        if breached:
            current = current + 1 if previous == second - 1 and current else 1
            longest = max(longest, current)
        else:
            current = 0
        previous = second
    return float(longest)


def judge_threshold(check: Check, run: RunData, min_samples: int) -> GateResult:
    expr = check.expression
    assert expr.bound is not None
    limit = to_metric_unit(check.info, expr.agg, expr.bound)
    obs = observe(run, check.key, check.info, expr.agg, expr.percentile)

    def result(verdict: Verdict, detail: str = "") -> GateResult:
        return GateResult(
            check.section,
            check.key.text,
            check.text,
            verdict,
            obs.value,
            limit,
            detail=detail,
            strict=check.strict,
            unit=check.info.unit,
            samples=obs.count,
        )

    if obs.value is None:
        return result(Verdict.INCONCLUSIVE, obs.reason or "no value")
    counted = check.info.kind != "counter" and expr.agg != "count"
    if counted and obs.count is not None and obs.count < min_samples:
        return result(Verdict.INCONCLUSIVE, f"only {obs.count} samples (min_samples {min_samples})")
    if check.over_s is None:
        return result(Verdict.PASS if compare(obs.value, expr.op, limit) else Verdict.FAIL)
    if obs.samples is None:
        return result(
            Verdict.INCONCLUSIVE,
            "over needs per-sample figures (a latency trend, error_rate, cost_per_1k_requests_usd "
            "or retry_amplification) and the run's records",
        )
    longest_s = _longest_breach_s(obs.samples, check, limit)
    sustained = longest_s >= check.over_s
    return result(
        Verdict.FAIL if sustained else Verdict.PASS,
        f"longest sustained breach {longest_s:g} s (over {check.over_s:g} s)",
    )


def skipped(check: Check, why: str) -> GateResult:
    """A row for a check that does not apply to what is gated."""
    return GateResult(
        check.section,
        check.key.text,
        check.text,
        Verdict.SKIPPED,
        detail=why,
        strict=check.strict,
        unit=check.info.unit,
    )


def baseline_mismatch(budget: Budget, run: RunData, baseline: RunData | None) -> str | None:
    """Why the baseline cannot judge regressions of ``run`` (None when it can)."""
    if baseline is None:
        return None
    try:
        problems = differences([baseline, run], budget.require_same, [baseline.label, run.label])
    except RequireSameError as exc:
        return f"[baseline] require_same {exc}"
    if not problems:
        return None
    return (
        f"baseline {baseline.label} is not comparable: "
        + "; ".join(problems)
        + " (compare runs of the same scenario workload and seed)"
    )


def evaluate(
    budget: Budget, run: RunData, baseline: RunData | None, rng: np.random.Generator
) -> GateReport:
    """Every row of the gate table for ``run``, in budget order after the validity rows. Each
    check's noise check draws from its own stream spawned from ``rng``, so its interval does
    not depend on which other checks had samples to resample."""
    results = validity_results(budget, run)
    mismatch = baseline_mismatch(budget, run, baseline)
    streams = rng.spawn(len(budget.checks))
    for check, stream in zip(budget.checks, streams, strict=True):
        if check.section == "sweep":
            results.append(skipped(check, "a sweep's figure: gate the sweep directory"))
        elif check.section == "regression" and mismatch is not None:
            results.append(
                GateResult(
                    check.section,
                    check.key.text,
                    check.text,
                    Verdict.INCONCLUSIVE,
                    detail=mismatch,
                    strict=check.strict,
                    unit=check.info.unit,
                )
            )
        elif check.section == "regression":
            results.append(judge_regression(check, run, baseline, budget.min_samples, stream))
        else:
            results.append(judge_threshold(check, run, budget.min_samples))
    aborted = abort_result(run.manifest)
    if aborted is not None:
        results.append(aborted)
    return GateReport(
        run.label, budget.source, tuple(results), None if baseline is None else baseline.label
    )
