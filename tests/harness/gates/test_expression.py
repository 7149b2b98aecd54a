"""The budget expression grammar: round trips, whitespace, units, and every kind of mistake."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.gates.catalog import CatalogError, check_expression, metric_info, to_metric_unit
from harness.gates.expression import (
    OPERATORS,
    Expression,
    ExpressionError,
    Quantity,
    compare,
    format_expression,
    parse_expression,
)

numbers = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
signed = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
units = st.sampled_from([None, "ms", "s", "us", "%"])
percentiles = st.floats(min_value=0, max_value=100, allow_nan=False)
aggs = st.sampled_from(["p", "avg", "min", "max", "med", "value", "rate", "count"])
ops = st.sampled_from(OPERATORS)


@st.composite
def expressions(draw: st.DrawFn) -> Expression:
    agg = draw(aggs)
    percentile = draw(percentiles) if agg == "p" else None
    if draw(st.booleans()):
        return Expression(agg, draw(ops), percentile, bound=Quantity(draw(signed), draw(units)))
    offset = draw(st.none() | st.builds(Quantity, signed, units))
    return Expression(
        agg, draw(ops), percentile, baseline_factor=draw(numbers), baseline_offset=offset
    )


@given(expressions())
def test_format_then_parse_gives_the_same_expression(expression: Expression) -> None:
    text = format_expression(expression)
    assert parse_expression(text) == expression
    assert format_expression(parse_expression(text)) == text


@given(expressions(), st.sampled_from(["", " ", "  ", "\t"]))
def test_whitespace_between_tokens_does_not_matter(expression: Expression, gap: str) -> None:
    tokens = format_expression(expression).split(" ")
    assert parse_expression(gap + gap.join(tokens) + gap) == expression


def test_the_issue_forms_parse() -> None:
    assert parse_expression("p(99) < 800") == Expression("p", "<", 99.0, Quantity(800.0))
    assert parse_expression("value <= 0.40").bound == Quantity(0.4)
    relative = parse_expression("p(99) <= baseline * 1.10 + 25")
    assert relative.uses_baseline
    assert relative.baseline_factor == pytest.approx(1.1)
    assert relative.baseline_offset == Quantity(25.0)
    assert parse_expression("med >= baseline - 3ms").baseline_offset == Quantity(-3.0, "ms")
    assert parse_expression("p(99.9)<2s") == Expression("p", "<", 99.9, Quantity(2.0, "s"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "p99 < 800",
        "p() < 800",
        "p(101) < 800",
        "p(-1) < 8",
        "pct(99) < 800",
        "avg 800",
        "avg < ",
        "avg < fast",
        "avg < 800 ms ms",
        "avg < 800kb",
        "avg <== 800",
        "avg => 800",
        "value <= baseline *",
        "value <= baseline * x",
        "value <= baseline + ",
        "value < 1 2",
        "value <= 2 * baseline",
        "count",
        "< 800",
    ],
)
def test_bad_expressions_raise_an_error_that_quotes_them(text: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("metric", "text", "expected"),
    [
        ("ttft_ms", "p(99) < 800ms", 800.0),
        ("ttft_ms", "p(99) < 2s", 2000.0),
        ("ttft_ms", "p(99) < 1500us", 1.5),
        ("ttft_ms", "p(99) < 800", 800.0),
        ("error_rate", "rate < 1%", 0.01),
        ("error_rate", "value < 0.01", 0.01),
        ("cost_per_1k_requests_usd", "value <= 0.4", 0.4),
    ],
)
def test_units_become_the_metric_unit(metric: str, text: str, expected: float) -> None:
    info = metric_info(metric)
    expression = parse_expression(text)
    check_expression(info, expression)
    assert expression.bound is not None
    assert to_metric_unit(info, expression.agg, expression.bound) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "text", "needle"),
    [
        ("error_rate", "rate < 5ms", "unit 'ms' does not apply"),
        ("ttft_ms", "p(99) < 5%", "unit '%' does not apply"),
        ("cost_per_1k_requests_usd", "value < 1s", "unit 's' does not apply"),
        ("ttft_ms", "value < 3", "aggregation 'value' does not apply to ttft_ms"),
        ("error_rate", "p(99) < 3", "aggregation 'p(99)' does not apply"),
        ("retry_amplification", "count < 3", "aggregation 'count' does not apply"),
        ("ttft_ms", "count < 3ms", "count is a number of samples"),
    ],
)
def test_expressions_that_do_not_fit_the_metric(metric: str, text: str, needle: str) -> None:
    with pytest.raises(CatalogError) as caught:
        check_expression(metric_info(metric), parse_expression(text))
    assert needle in str(caught.value)


def test_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError) as caught:
        metric_info("ttft")
    assert "'ttft'" in str(caught.value) and "ttft_ms" in str(caught.value)


@given(signed, signed)
def test_compare_agrees_with_python_operators(a: float, b: float) -> None:
    assert compare(a, "<", b) == (a < b)
    assert compare(a, "<=", b) == (a <= b)
    assert compare(a, ">", b) == (a > b)
    assert compare(a, ">=", b) == (a >= b)
    assert compare(a, "==", b) == (a == b)
    assert compare(a, "!=", b) == (a != b)
