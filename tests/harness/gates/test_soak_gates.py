"""Soak gate metrics: crafted summaries with and without a ``soak`` / ``watch`` object in; the
slope a check compares, and inconclusive (never 0) when the figure is unknown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from harness.gates import GateReport, RunData, Verdict, evaluate, parse_budget
from harness.gates.budget import BudgetError
from harness.gates.catalog import metric_info

Summary = Callable[..., dict[str, Any]]

BUDGET = """
[thresholds]
"ttft_ms_p99_slope_per_hour" = ["value < 5"]
"e2e_ms_p99_slope_per_hour" = ["value < 50"]
"error_rate_slope_per_hour" = ["value < 0.001"]
"sut_rss_bytes_per_hour" = ["value < 50e6"]
"""


def _soak(ttft: float, e2e: float, errors: float) -> dict[str, Any]:
    def trend(value: float) -> dict[str, Any]:
        return {"per_hour": value, "low": value - 1, "high": value + 1, "direction": "flat"}

    return {
        "verdict": "stable",
        "trends": {
            "ttft_ms_p99": trend(ttft),
            "e2e_ms_p99": trend(e2e),
            "error_rate": trend(errors),
        },
    }


def _rows(summary: dict[str, Any]) -> dict[str, tuple[Verdict, float | None, str]]:
    report: GateReport = evaluate(
        parse_budget(BUDGET), RunData("run", summary), None, np.random.default_rng(0)
    )
    return {
        r.metric: (r.verdict, r.observed, r.detail)
        for r in report.results
        if r.section == "thresholds"
    }


def test_slopes_are_read_from_the_soak_section(summary_of: Summary) -> None:
    rows = _rows(
        summary_of(
            soak=_soak(2.0, 80.0, 0.0),
            watch={
                "urls": {
                    "http://127.0.0.1:9/metrics": {
                        "leak": {
                            "process_resident_memory_bytes": {"bytes_per_hour": 1.2e6},
                            'process_resident_memory_bytes{pid="7"}': {"bytes_per_hour": -3e6},
                        }
                    }
                }
            },
        )
    )
    assert rows["ttft_ms_p99_slope_per_hour"][:2] == (Verdict.PASS, 2.0)
    assert rows["e2e_ms_p99_slope_per_hour"][:2] == (Verdict.FAIL, 80.0)
    assert rows["error_rate_slope_per_hour"][:2] == (Verdict.PASS, 0.0)
    assert rows["sut_rss_bytes_per_hour"][:2] == (Verdict.PASS, 1.2e6)


def test_a_short_run_and_a_run_without_watch_are_inconclusive(summary_of: Summary) -> None:
    short = {"verdict": "too short", "reason": "too short for a trend verdict: 1 min"}
    rows = _rows(summary_of(soak=short))
    for name in ("ttft_ms_p99_slope_per_hour", "e2e_ms_p99_slope_per_hour"):
        assert rows[name] == (Verdict.INCONCLUSIVE, None, short["reason"])
    verdict, observed, detail = rows["sut_rss_bytes_per_hour"]
    assert (verdict, observed) == (Verdict.INCONCLUSIVE, None)
    assert "--watch" in detail


def test_a_summary_without_soak_is_inconclusive(summary_of: Summary) -> None:
    unknown = {"verdict": "unknown", "bytes_per_hour": None}
    rows = _rows(summary_of(watch={"urls": {"u": {"leak": {"rss": unknown}}}}))
    assert {v for v, _, _ in rows.values()} == {Verdict.INCONCLUSIVE}
    assert "no leak verdict" in rows["sut_rss_bytes_per_hour"][2]


def test_a_tag_filter_on_a_soak_figure_is_inconclusive(summary_of: Summary) -> None:
    budget = parse_budget('[thresholds]\n"ttft_ms_p99_slope_per_hour{tenant=a}" = "value < 5"\n')
    report = evaluate(
        budget, RunData("run", summary_of(soak=_soak(1, 1, 0))), None, np.random.default_rng(0)
    )
    row = next(r for r in report.results if r.section == "thresholds")
    assert row.verdict == Verdict.INCONCLUSIVE and "whole-run" in row.detail


def test_soak_figures_are_plain_values() -> None:
    info = metric_info("ttft_ms_p99_slope_per_hour")
    assert (info.kind, info.unit, info.aggregations) == ("value", None, ("value",))
    with pytest.raises(BudgetError, match="does not apply"):
        parse_budget('[thresholds]\n"e2e_ms_p99_slope_per_hour" = "p(99) < 5"\n')
