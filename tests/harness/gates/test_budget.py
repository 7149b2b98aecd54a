"""Budget files: the issue's form parses exactly; every mistake is one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.gates.budget import (
    BudgetError,
    MetricKey,
    load_budget,
    parse_budget,
    parse_metric_key,
)
from harness.stats.slices import TagFilter

ISSUE_BUDGET = """
[thresholds]
"ttft_ms" = ["p(99) < 800", "p(50) < 300"]
"e2e_ms{model=mock-large}" = ["p(99) < 4000"]
"retry_amplification" = ["value <= 1.3"]
"cost_per_1k_requests_usd" = ["value <= 0.40"]
"error_rate" = ["value < 0.01"]
[regression]
"ttft_ms" = ["p(99) <= baseline * 1.10 + 25"]
"""


def test_the_issue_budget_parses_exactly() -> None:
    budget = parse_budget(ISSUE_BUDGET, "budget.toml")
    got = [(c.section, c.key.name, c.key.filters, c.text) for c in budget.checks]
    assert got == [
        ("thresholds", "ttft_ms", (), "p(99) < 800"),
        ("thresholds", "ttft_ms", (), "p(50) < 300"),
        ("thresholds", "e2e_ms", (TagFilter("model", "mock-large"),), "p(99) < 4000"),
        ("thresholds", "retry_amplification", (), "value <= 1.3"),
        ("thresholds", "cost_per_1k_requests_usd", (), "value <= 0.40"),
        ("thresholds", "error_rate", (), "value < 0.01"),
        ("regression", "ttft_ms", (), "p(99) <= baseline * 1.10 + 25"),
    ]
    assert all(c.strict and c.over_s is None for c in budget.checks)
    assert budget.limits == {} and budget.min_samples == 1


def test_table_entries_filters_and_validity() -> None:
    budget = parse_budget("""
[thresholds]
"e2e_ms{tenant=acme, workload!=batch, outcome:ok}" = [
  { threshold = "p(99) < 4s", over = "30s", abort_on_fail = false, strict = false }]
"error_rate{fault=none}" = "rate < 1%"
[validity]
max_schedule_lag_p99_ms = 5
min_samples = 50
""")
    first, second = budget.checks
    assert first.key.filters == (
        TagFilter("tenant", "acme"),
        TagFilter("workload", "batch", True),
        TagFilter("outcome", "ok"),
    )
    assert (first.over_s, first.abort_on_fail, first.strict) == (30.0, False, False)
    assert second.key.filters == (TagFilter("fault", "none"),) and second.text == "rate < 1%"
    assert budget.limits == {"max_schedule_lag_p99_ms": 5.0} and budget.min_samples == 50


def test_metric_key_without_filters() -> None:
    assert parse_metric_key("ttft_ms") == MetricKey("ttft_ms", (), "ttft_ms")
    assert parse_metric_key("e2e_ms{ tenant = 'acme' }").filters == (TagFilter("tenant", "acme"),)


@pytest.mark.parametrize(
    ("body", "key", "needle"),
    [
        ('[thresholds]\n"ttft_ms" = ["p99 < 800"]', '"ttft_ms"', "'p99 < 800'"),
        ('[thresholds]\n"ttft_ms" = ["p(99) < fast"]', '"ttft_ms"', "'p(99) < fast'"),
        ('[thresholds]\n"ttft_ms" = ["p(99) < 5%"]', '"ttft_ms"', "'p(99) < 5%'"),
        ('[thresholds]\n"error_rate" = ["p(99) < 0.1"]', '"error_rate"', "'p(99) < 0.1'"),
        ('[thresholds]\n"ttft_ms" = ["p(99) < baseline"]', '"ttft_ms"', "belongs in [regression]"),
        ('[regression]\n"ttft_ms" = ["p(99) < 800"]', '"ttft_ms"', "compares with 'baseline'"),
        ('[thresholds]\n"ttft" = ["p(99) < 800"]', '"ttft"', "unknown metric 'ttft'"),
        ('[thresholds]\n"ttft_ms{model}" = ["p(99) < 800"]', '"ttft_ms{model}"', "filter 'model'"),
        (
            '[thresholds]\n"ttft_ms" = [{ threshold = "p(99) < 8", over = "soon" }]',
            '"ttft_ms"',
            "over:",
        ),
        (
            '[thresholds]\n"ttft_ms" = [{ threshold = "p(99) < 8", when = 1 }]',
            '"ttft_ms"',
            "unknown field 'when'",
        ),
        ('[thresholds]\n"ttft_ms" = [{ over = "3s" }]', '"ttft_ms"', "needs threshold"),
        ('[thresholds]\n"ttft_ms" = [3]', '"ttft_ms"', "neither an expression"),
        (
            '[thresholds]\n"latency_with_retries_ms" = [{ threshold = "p(99) < 8", '
            "abort_on_fail = true }]",
            '"latency_with_retries_ms"',
            "needs a figure counted live",
        ),
        (
            '[thresholds]\n"ttft_ms" = [{ threshold = "count > 8", abort_on_fail = true }]',
            '"ttft_ms"',
            "needs an upper bound",
        ),
        (
            '[thresholds]\n"schedule_lag_ms{outcome=ok}" = [{ threshold = "p(99) < 8", '
            "abort_on_fail = true }]",
            '"schedule_lag_ms{outcome=ok}"',
            "cannot filter on outcome",
        ),
        (
            '[thresholds]\n"ttft_ms" = [{ threshold = "p(99) < 8", abort_on_fail = true, '
            'delay_abort_eval = "soon" }]',
            '"ttft_ms"',
            "delay_abort_eval: 'soon' is not a duration",
        ),
        (
            '[thresholds]\n"ttft_ms" = [{ threshold = "p(99) < 8", abort_on_fail = true, '
            'delay_abort_eval = ["10s"] }]',
            '"ttft_ms"',
            "delay_abort_eval: expected a duration",
        ),
        (
            '[thresholds]\n"ttft_ms" = [{ threshold = "p(99) < 8", over = { s = 3 } }]',
            '"ttft_ms"',
            "over: expected a duration",
        ),
        (
            '[thresholds]\n"requests_ok" = [{ threshold = "count > 8", abort_on_fail = true }]',
            '"requests_ok"',
            "needs an upper bound",
        ),
        (
            '[thresholds]\n"error_rate{tenant=a}" = [{ threshold = "rate < 1%", '
            "abort_on_fail = true }]",
            '"error_rate{tenant=a}"',
            "unfiltered, strict",
        ),
        (
            '[thresholds]\n"error_rate" = [{ threshold = "rate < 1%", abort_on_fail = true, '
            'over = "3s" }]',
            '"error_rate"',
            "without over",
        ),
        (
            '[thresholds]\n"error_rate" = [{ threshold = "rate < 1%", abort_on_fail = true, '
            "abort_min_samples = 0 }]",
            '"error_rate"',
            "abort_min_samples must be",
        ),
        (
            '[regression]\n"ttft_ms" = [{ threshold = "p(99) < baseline", over = "3s" }]',
            '"ttft_ms"',
            "over applies to [thresholds] only",
        ),
    ],
)
def test_bad_entries_name_file_section_key_and_expression(
    tmp_path: Path, body: str, key: str, needle: str
) -> None:
    path = tmp_path / "budget.toml"
    path.write_text(body)
    with pytest.raises(BudgetError) as caught:
        load_budget(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: [")
    assert key in message and needle in message, message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("[thresholds", "not valid TOML"),
        (
            '[thresholds]\n"ttft_ms" = "p(99) < 8"\n[baseline]\nrequire_same = []',
            "[baseline] require_same: give a list",
        ),
        ('[thresholds]\n"ttft_ms" = "p(99) < 8"\n[baseline]\nrun = "x"', "[baseline] run: unknown"),
        ('[limits]\n"ttft_ms" = ["p(99) < 8"]', "unknown section [limits]"),
        ("", "nothing to gate"),
        ('[thresholds]\n"ttft_ms" = "p(99) < 8"\n[validity]\nmax_lag = 3', "[validity] max_lag"),
        ('[thresholds]\n"ttft_ms" = "p(99) < 8"\n[validity]\nmin_samples = 2.5', "whole number"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "budget.toml"
    path.write_text(body)
    with pytest.raises(BudgetError) as caught:
        load_budget(path)
    assert str(caught.value).startswith(str(path)) and needle in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match="no such budget file"):
        load_budget(tmp_path / "absent.toml")
