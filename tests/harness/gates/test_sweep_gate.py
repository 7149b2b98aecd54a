"""A budget's ``[sweep]`` rows: parsed with the budget grammar, skipped on a run, and judged on
a sweep's answer over the range it knows, so a lower bound is never a fail or a false pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.gates import BudgetError, Verdict, evaluate, parse_budget
from harness.gates.sweep import evaluate_sweep
from harness.stats.run_data import RunData


def _verdicts(result: dict[str, Any], *expressions: str) -> list[Verdict]:
    rows = ", ".join(f'"{e}"' for e in expressions)
    budget = parse_budget(f'[sweep]\n"max_rate_meeting_slo" = [{rows}]\n')
    report = evaluate_sweep(budget, {"result": result}, "s")
    return [r.verdict for r in report.results]


def test_a_converged_answer_is_judged_as_a_point() -> None:
    result = {"max_rate_meeting_slo": 42.0, "bound": "converged", "lowest_miss": 43.0}
    assert _verdicts(result, "value >= 40", "value >= 45", "value < 50") == [
        Verdict.PASS,
        Verdict.FAIL,
        Verdict.PASS,
    ]


def test_a_lower_bound_passes_what_it_already_shows_and_nothing_else() -> None:
    rig_bound = {"max_rate_meeting_slo": 50.0, "bound": "at_least", "limited_by": "rig"}
    assert _verdicts(rig_bound, "value >= 40", "value >= 100", "value <= 60", "value < 40") == [
        Verdict.PASS,
        Verdict.INCONCLUSIVE,  # the generator stopped it: the system may take more
        Verdict.INCONCLUSIVE,
        Verdict.FAIL,
    ]
    bracketed = {"max_rate_meeting_slo": 30.0, "bound": "bracketed", "lowest_miss": 45.0}
    assert _verdicts(bracketed, "value >= 30", "value >= 45", "value >= 40") == [
        Verdict.PASS,
        Verdict.FAIL,
        Verdict.INCONCLUSIVE,
    ]
    below = {"max_rate_meeting_slo": None, "bound": "below", "lowest_miss": 5.0}
    assert _verdicts(below, "value >= 40", "value < 10") == [Verdict.FAIL, Verdict.PASS]
    nothing = {"max_rate_meeting_slo": None, "bound": "unknown"}
    assert _verdicts(nothing, "value >= 1") == [Verdict.INCONCLUSIVE]


def test_the_grammar_keeps_sweep_figures_in_their_section() -> None:
    budget = parse_budget('[sweep]\n"max_goodput_rps" = ["value >= 5"]\n')
    assert budget.checks[0].section == "sweep"
    for text, message in (
        ('[sweep]\n"max_rate" = ["value >= 5"]\n', "unknown sweep figure"),
        ('[sweep]\n"max_rate_meeting_slo{model=a}" = ["value >= 5"]\n', "no {tag=value} filters"),
        ('[sweep]\n"max_rate_meeting_slo" = ["p(99) >= 5"]\n', "does not apply"),
        ('[thresholds]\n"max_rate_meeting_slo" = ["value >= 5"]\n', "belongs in [sweep]"),
    ):
        with pytest.raises(BudgetError) as caught:
            parse_budget(text)
        assert message in str(caught.value)


def test_a_run_skips_sweep_rows_and_a_sweep_skips_run_rows() -> None:
    budget = parse_budget(
        '[thresholds]\n"error_rate" = ["rate < 1%"]\n'
        '[sweep]\n"max_rate_meeting_slo" = ["value >= 5"]\n'
    )
    run = RunData("r", {"valid": True, "error_rate": 0.0, "requests_sent": 10})
    rows = evaluate(budget, run, None, np.random.default_rng(0)).results
    assert [r.verdict for r in rows if r.section == "sweep"] == [Verdict.SKIPPED]
    swept = evaluate_sweep(
        budget, {"result": {"max_rate_meeting_slo": 9, "bound": "converged"}}, "s"
    )
    assert [r.verdict for r in swept.results] == [Verdict.SKIPPED, Verdict.PASS]
    assert swept.exit_code == 0
