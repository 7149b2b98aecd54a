"""Display formatting: summary values (numbers, None) in, short human strings out.

One missing value reads the same everywhere ("—"), so a reader can tell "unknown" from 0.
"""

from __future__ import annotations

from typing import Any

MISSING = "—"


def ms(value: Any) -> str:
    if not isinstance(value, int | float):
        return MISSING
    return f"{value:,.1f} ms" if abs(value) < 100 else f"{value:,.0f} ms"


def usd(value: Any) -> str:
    if not isinstance(value, int | float):
        return MISSING
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4g}"


def usd_or_unknown(value: Any) -> str:
    """A headline cost: "unknown" when it could not be computed (the notes say why)."""
    return "unknown (see notes)" if not isinstance(value, int | float) else usd(value)


def share(value: Any) -> str:
    """A fraction as a percentage (error rate, cache hit rate, SLO attainment)."""
    if not isinstance(value, int | float):
        return MISSING
    return f"{value:.2%}"


def ratio(value: Any) -> str:
    """An amplification factor such as 1.27x."""
    if not isinstance(value, int | float):
        return MISSING
    return f"{value:.2f}x"


def rate(value: Any) -> str:
    if not isinstance(value, int | float):
        return MISSING
    return f"{value:,.2f}/s"


def count(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return MISSING
    return f"{value:,.0f}"


def text(value: Any) -> str:
    return MISSING if value is None or value == "" else str(value)
