"""Budget expressions: one text like ``p(99) <= baseline * 1.10 + 25ms`` in, an ``Expression`` out.

Grammar (k6's threshold expressions, plus a ``baseline`` right-hand side)::

    expr     := agg op rhs
    agg      := "p(" number ")" | "avg" | "min" | "max" | "med" | "value" | "rate" | "count"
    op       := "<" | "<=" | ">" | ">=" | "==" | "!="
    rhs      := quantity | "baseline" [ "*" number ] [ ("+" | "-") quantity ]
    quantity := number [ "ms" | "s" | "us" | "%" ]

Whitespace between tokens is free. A bare number is in the metric's own unit; units are
converted by ``harness.gates.catalog``. ``format_expression`` writes the canonical text, and
``parse_expression(format_expression(e)) == e`` for every expression.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

AGGREGATIONS = ("p", "avg", "min", "max", "med", "value", "rate", "count")
OPERATORS = ("<=", ">=", "==", "!=", "<", ">")
UNITS = ("ms", "us", "s", "%")

_NUMBER = r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
_QUANTITY = rf"(?P<{{name}}>-?\s*(?:{_NUMBER}))\s*(?P<{{name}}_unit>ms|us|s|%)?"
_AGG = r"(?P<agg>p\s*\(\s*(?P<pct>" + _NUMBER + r")\s*\)|avg|min|max|med|value|rate|count)"
_OP = r"(?P<op><=|>=|==|!=|<|>)"
_PLAIN = re.compile(rf"^\s*{_AGG}\s*{_OP}\s*{_QUANTITY.format(name='bound')}\s*$")
_BASELINE = re.compile(
    rf"^\s*{_AGG}\s*{_OP}\s*baseline"
    rf"(?:\s*\*\s*(?P<factor>{_NUMBER}))?"
    rf"(?:\s*(?P<sign>[-+])\s*{_QUANTITY.format(name='offset')})?\s*$"
)


class ExpressionError(ValueError):
    """An expression does not follow the grammar; ``str()`` says what is wrong."""


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number as written, with its unit (None: the metric's own unit)."""

    number: float
    unit: str | None = None

    def text(self) -> str:
        return f"{_number_text(self.number)}{self.unit or ''}"


@dataclass(frozen=True, slots=True)
class Expression:
    """``agg op bound`` or ``agg op baseline * factor + offset`` (exactly one form is set)."""

    agg: str
    op: str
    percentile: float | None = None
    bound: Quantity | None = None
    baseline_factor: float | None = None
    baseline_offset: Quantity | None = None

    @property
    def uses_baseline(self) -> bool:
        return self.bound is None

    @property
    def agg_text(self) -> str:
        if self.agg == "p":
            return f"p({_number_text(self.percentile or 0.0)})"
        return self.agg


def _number_text(number: float) -> str:
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _number(text: str, expression: str) -> float:
    value = float(text.replace(" ", ""))
    if not math.isfinite(value):
        raise ExpressionError(f"{expression!r}: {text!r} is not a finite number")
    return value


def _aggregation(match: re.Match[str], expression: str) -> tuple[str, float | None]:
    pct_text = match.group("pct")
    if pct_text is None:
        return match.group("agg"), None
    pct = _number(pct_text, expression)
    if not 0.0 <= pct <= 100.0:
        raise ExpressionError(f"{expression!r}: p({pct_text}) needs a percentile in 0..100")
    return "p", pct


def parse_expression(text: str) -> Expression:
    """Parse one expression; raises ``ExpressionError`` naming the expression and the fault."""
    if not isinstance(text, str):
        raise ExpressionError(f"{text!r}: an expression must be a string like 'p(99) < 800'")
    plain = _PLAIN.match(text)
    if plain is not None:
        agg, pct = _aggregation(plain, text)
        bound = Quantity(_number(plain.group("bound"), text), plain.group("bound_unit"))
        return Expression(agg=agg, op=plain.group("op"), percentile=pct, bound=bound)
    relative = _BASELINE.match(text)
    if relative is not None:
        agg, pct = _aggregation(relative, text)
        factor = relative.group("factor")
        offset: Quantity | None = None
        if relative.group("sign") is not None:
            magnitude = _number(relative.group("offset"), text)
            sign = -1.0 if relative.group("sign") == "-" else 1.0
            offset = Quantity(sign * magnitude, relative.group("offset_unit"))
        return Expression(
            agg=agg,
            op=relative.group("op"),
            percentile=pct,
            baseline_factor=1.0 if factor is None else _number(factor, text),
            baseline_offset=offset,
        )
    raise ExpressionError(f"{text!r}: {_diagnose(text)}")


def _diagnose(text: str) -> str:
    """The most likely mistake, so the message says how to fix it."""
    stripped = text.strip()
    head = re.match(r"^([a-zA-Z_]+)\s*(\()?", stripped)
    if not stripped:
        return "empty expression; write e.g. 'p(99) < 800'"
    if (
        head is None
        or head.group(1) not in AGGREGATIONS
        or (head.group(1) == "p" and head.group(2) is None)
    ):
        return (
            "starts with an unknown aggregation; use one of p(N), avg, min, max, med, "
            "value, rate, count"
        )
    if not re.search(r"<=|>=|==|!=|<|>", stripped):
        return "has no comparison; use one of < <= > >= == !="
    return (
        "the right-hand side must be a number with an optional unit (ms, s, us, %) or "
        "'baseline [* FACTOR] [+|- NUMBER]'"
    )


def format_expression(expression: Expression) -> str:
    """The canonical text of ``expression`` (parses back to an equal expression)."""
    left = f"{expression.agg_text} {expression.op} "
    if expression.bound is not None:
        return left + expression.bound.text()
    rhs = "baseline"
    if expression.baseline_factor is not None and expression.baseline_factor != 1.0:
        rhs += f" * {_number_text(expression.baseline_factor)}"
    offset = expression.baseline_offset
    if offset is not None:
        sign = "-" if offset.number < 0 else "+"
        rhs += f" {sign} {Quantity(abs(offset.number), offset.unit).text()}"
    return left + rhs


def compare(observed: float, op: str, limit: float) -> bool:
    """Whether ``observed op limit`` holds."""
    if op == "<":
        return observed < limit
    if op == "<=":
        return observed <= limit
    if op == ">":
        return observed > limit
    if op == ">=":
        return observed >= limit
    if op == "==":
        return observed == limit
    return observed != limit
