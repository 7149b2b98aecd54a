"""Trace timestamps: the text or number a trace stores in, integer nanoseconds out.

Parsed by hand, not with ``datetime.strptime``: Azure 2023 writes 7 fractional digits (more
than ``%f`` accepts), Azure 2024 mixes values with and without a fraction, and integer
nanoseconds keep every digit, so offsets are exact differences. Text without a zone is read
as UTC (only differences matter); a zone (``Z``, ``+00:00``) is honoured.
"""

from __future__ import annotations

import datetime as dt
import re

_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
_DECIMAL = re.compile(r"^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$")
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def iso_ns(text: str) -> int:
    """``2023-11-16 18:17:03.9799600`` (or with ``T``, a zone) as ns since 1970 (UTC)."""
    match = _ISO.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a date-time like 2023-11-16 18:17:03.9799600")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        days = dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise ValueError(f"{text!r} is not a real date") from None
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"{text!r} has an impossible time of day")
    fraction = match.group(7) or ""
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    zone = match.group(8)
    zone_s = 0
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        zone_s = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second - zone_s
    return seconds * 1_000_000_000 + nanos


def number_ns(value: str | int | float, unit: str) -> int:
    """A count of ``unit`` (``s``, ``ms``, ``us``, ``ns``), decimal text kept digit-exact."""
    scale = _NS_PER_UNIT[unit]
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int):
        return value * scale
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a time")
        return round(value * scale)
    match = _DECIMAL.match(value)
    if match is None or not (match.group(2) or match.group(3)):
        try:
            return number_ns(float(value), unit)  # exponent forms such as 1.7e9
        except ValueError:
            raise ValueError(f"{value!r} is not a number of {unit}") from None
    sign, whole, fraction = match.group(1), match.group(2) or "0", match.group(3) or ""
    digits = len(str(scale)) - 1
    kept, rest = fraction[:digits].ljust(digits, "0"), fraction[digits:]
    nanos = int(whole) * scale + int(kept or "0")
    if rest and rest[0] >= "5":
        nanos += 1
    return -nanos if sign == "-" else nanos


def time_ns(value: str | int | float, unit: str) -> int:
    """A timestamp cell as ns: ``unit`` ``iso`` for date-time text, else a number of units."""
    if unit == "iso":
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a date-time text")
        return iso_ns(value)
    return number_ns(value, unit)
