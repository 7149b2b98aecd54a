"""One step of ``tokenstorm sweep``: the scenario and an offered load in, a normal run directory
and its ``Step`` (outcome against the SLO, figures) out; and the SLO as a budget.

The SLO is a budget of ``[thresholds]``: ``--slo "METRIC EXPRESSION"`` rows (the budget
grammar, e.g. ``"e2e_ms p(99) < 3s"``), or without them ``slo_attainment`` at least
``--attainment`` under the scenario's ``[slo]``; plus ``error_rate`` at most
``--max-error-rate``. A step whose run is invalid (the generator or a tokenstorm mock could
not hold the load) is ``invalid`` whatever its figures; a valid one meets the SLO when the
budget passes, and misses it otherwise (a figure that could not be measured, say no request
succeeded, is a miss). Each step keeps its verdict in its own gates.json and junit.xml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.capacity.sweep_result import Step
from harness.capacity.sweep_search import Outcome
from harness.cli.errors import UserError
from harness.cli.gate import NOISE_SEED
from harness.gates import (
    Budget,
    BudgetError,
    Verdict,
    evaluate,
    gates_json,
    junit_xml,
    parse_budget,
)
from harness.gates.catalog import to_metric_unit
from harness.stats.run_data import load_run
from workloads.scenario import Scenario

_SLO_TRENDS = {"ttft_ms": "ttft", "e2e_ms": "e2e", "tpot_ms": "tpot"}


def slo_budget(
    texts: list[str], attainment: float, max_error_rate: float, scenario: Scenario
) -> Budget:
    """The SLO as a budget; ``UserError`` (one line) for a bad row or no SLO at all."""
    rows: dict[str, list[str]] = {}
    for text in texts:
        key, _, expression = text.strip().partition(" ")
        if not expression.strip():
            raise UserError(f'--slo {text!r}: write METRIC EXPRESSION, e.g. "e2e_ms p(99) < 3s"')
        rows.setdefault(key.rstrip(":"), []).append(expression.strip())
    if not rows:
        if not scenario.slo.model_dump(exclude_none=True):
            raise UserError(
                'no SLO: give --slo "METRIC EXPRESSION" (e.g. "e2e_ms p(99) < 3s") or an '
                "[slo] in the scenario"
            )
        rows["slo_attainment"] = [f"value >= {attainment!r}"]
    rows.setdefault("error_rate", []).append(f"rate <= {max_error_rate!r}")
    text = "[thresholds]\n" + "".join(
        f"{json.dumps(key)} = {json.dumps(expressions)}\n" for key, expressions in rows.items()
    )
    try:
        return parse_budget(text, "--slo")
    except BudgetError as exc:
        raise UserError(str(exc)) from None


def slo_limits(budget: Budget) -> dict[str, float]:
    """Per-request limits (seconds) an [slo] can hold, from the budget's latency upper bounds,
    so that a step's goodput counts requests meeting them."""
    limits: dict[str, float] = {}
    for check in budget.checks:
        name = _SLO_TRENDS.get(check.key.name)
        expr = check.expression
        if name and not check.key.filters and expr.op in ("<", "<=") and expr.bound is not None:
            seconds = to_metric_unit(check.info, expr.agg, expr.bound) / 1000.0
            limits[name] = min(seconds, limits.get(name, seconds))
    return limits


def step_scenario(
    scenario: Scenario, by: str, value: float, repeat: int, duration_s: float, slo: dict[str, float]
) -> Scenario:
    """The scenario of one step: the swept load, its own seed per repeat, the step duration."""
    data = scenario.model_dump(mode="json", exclude_unset=False)
    arrival = dict(data["arrival"])
    if by == "concurrency":
        arrival = {
            "process": "concurrency",
            "concurrency": int(value),
            "requests": arrival.get("requests"),
        }
    else:
        if arrival.get("process") == "concurrency":
            arrival = {"process": "poisson", "requests": arrival.get("requests")}
        # A rate fitted to a trace gives way to the rate swept (its process stays gamma).
        arrival.update(rate=value, trace=None)
    data.update(arrival=arrival, seed=scenario.seed + repeat, duration=duration_s)
    if slo and not scenario.slo.model_dump(exclude_none=True):
        data["slo"] = slo
    return Scenario.model_validate(data)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def figures(summary: dict[str, Any]) -> dict[str, float | None]:
    def stat(key: str, quantile: str) -> float | None:
        block = summary.get(key)
        return _number(block.get(quantile)) if isinstance(block, dict) else None

    return {
        "offered_rps": _number(summary.get("target_rps")),
        "achieved_rps": _number(summary.get("achieved_rps")),
        "goodput_rps": _number(summary.get("goodput_rps")),
        "ttft_p50_ms": stat("ttft_ms", "p50"),
        "ttft_p99_ms": stat("ttft_ms", "p99"),
        "e2e_p50_ms": stat("e2e_ms", "p50"),
        "e2e_p99_ms": stat("e2e_ms", "p99"),
        "error_rate": _number(summary.get("error_rate")),
    }


def _observed(value: float | None) -> str:
    return "nothing" if value is None else f"{value:.4g}"


def judge(run_dir: Path, budget: Budget, value: float, repeat: int) -> Step:
    """The step's outcome and figures; its gates.json and junit.xml are written."""
    run = load_run(run_dir)
    report = evaluate(budget, run, None, np.random.default_rng(NOISE_SEED))
    (run_dir / "gates.json").write_text(
        json.dumps(gates_json(report), indent=2) + "\n", encoding="utf-8"
    )
    (run_dir / "junit.xml").write_text(junit_xml(report), encoding="utf-8")
    summary = dict(run.summary)
    if summary.get("valid") is not True:
        detail = "; ".join(str(n) for n in summary.get("validity_notes") or ()) or "invalid run"
        return Step(value, repeat, Outcome.INVALID, run_dir.name, figures(summary), detail)
    failed = [
        f"{r.metric} {r.expression} (observed {_observed(r.observed)})"
        for r in report.results
        if r.section == "thresholds" and r.verdict is not Verdict.PASS
    ]
    outcome = Outcome.MISSES if failed else Outcome.MEETS
    return Step(value, repeat, outcome, run_dir.name, figures(summary), "; ".join(failed))
