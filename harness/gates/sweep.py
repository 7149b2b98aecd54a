"""Gating a sweep: a budget and a sweep directory's ``sweep.json`` in, a ``GateReport`` of its
``[sweep]`` rows out (``[thresholds]`` and ``[regression]`` rows are skipped: they judge one
run, so gate a step's run directory for them).

A sweep knows its answer only within a range: a converged search, the point it reports; a
bracketed one, ``[estimate, lowest miss)``; one the rig, the top or the step budget stopped
before anything missed, ``[estimate, infinity)``; one where nothing met, ``[0, lowest miss)``.
A check passes when every value of that range passes it, fails when none does, and is
inconclusive otherwise, so a lower bound the load generator could not exceed is never taken
for the system's limit. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.gates.budget import Budget, Check
from harness.gates.evaluate import skipped
from harness.gates.expression import compare
from harness.gates.verdicts import GateReport, GateResult, Verdict

#: ``[sweep]`` figure -> the key of ``sweep.json``'s ``result`` it reads.
_RANGED = ("max_rate_meeting_slo", "max_concurrency_meeting_slo")


def figure_range(result: Mapping[str, Any], name: str) -> tuple[float, float, float] | None:
    """``(estimate, low, high)`` of the true value of a figure, or None when unknown."""
    value = result.get(name)
    if name not in _RANGED or result.get("bound") == "converged":
        return None if value is None else (float(value), float(value), float(value))
    bound = result.get("bound")
    miss = result.get("lowest_miss")
    if bound == "below" and isinstance(miss, int | float):
        return (math.nan, 0.0, float(miss))
    if value is None:
        return None
    if bound == "bracketed" and isinstance(miss, int | float):
        return (float(value), float(value), float(miss))
    return (float(value), float(value), math.inf)


def _judge(check: Check, result: Mapping[str, Any]) -> GateResult:
    expr = check.expression
    assert expr.bound is not None
    limit = expr.bound.number
    found = figure_range(result, check.key.name)

    def row(verdict: Verdict, observed: float | None, detail: str) -> GateResult:
        return GateResult(
            check.section,
            check.key.text,
            check.text,
            verdict,
            observed,
            limit,
            detail=detail,
            strict=check.strict,
        )

    if found is None:
        return row(Verdict.INCONCLUSIVE, None, "the sweep found no value for it")
    estimate, low, high = found
    observed = None if math.isnan(estimate) else estimate
    if low == high:
        return row(Verdict.PASS if compare(low, expr.op, limit) else Verdict.FAIL, observed, "")
    # Inside a range: the low end is reachable, the high end is not (a miss, or unbounded).
    inner = high if math.isinf(high) else math.nextafter(high, -math.inf)
    ends = [compare(low, expr.op, limit), compare(inner, expr.op, limit)]
    if expr.op in ("==", "!="):
        ends.append(compare(limit, expr.op, limit) if low <= limit <= inner else ends[0])
    span = f"the limit is in [{low:g}, {high:g})"
    if all(ends):
        return row(Verdict.PASS, observed, span)
    if not any(ends):
        return row(Verdict.FAIL, observed, span)
    return row(Verdict.INCONCLUSIVE, observed, f"{span}: {result.get('limited_by')} stopped it")


def evaluate_sweep(budget: Budget, document: Mapping[str, Any], label: str) -> GateReport:
    """Every row of the gate table for a sweep."""
    result = document.get("result")
    result = result if isinstance(result, Mapping) else {}
    rows = [
        _judge(check, result)
        if check.section == "sweep"
        else skipped(check, "a run's figure: gate one step's run directory")
        for check in budget.checks
    ]
    return GateReport(label, budget.source, tuple(rows))
