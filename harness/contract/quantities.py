"""Parsing of the human quantities scenario and budget files use: durations and rates.

Pure functions; every error is a ``ValueError`` whose message says what is allowed.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*/\s*(ms|s|m|min|h)\s*$")
_RATE_PER_S = {"ms": 1000.0, "s": 1.0, "m": 1 / 60.0, "min": 1 / 60.0, "h": 1 / 3600.0}


def parse_duration_s(value: str | float | int) -> float:
    """``"45m"`` → 2700.0, ``"800ms"`` → 0.8, a bare number is seconds."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a duration like '30s', '800ms', '45m' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a duration: write a number with a unit ms, s, m or h "
                "(e.g. '800ms', '30s', '45m')"
            )
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds < 0:
        raise ValueError(f"duration {value!r} must not be negative")
    return seconds


def parse_rate_per_s(value: str | float | int) -> float:
    """``"12/s"`` → 12.0, ``"600/m"`` → 10.0, a bare number is per second."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a rate like '12/s' or '600/m'")
    if isinstance(value, int | float):
        rate = float(value)
    else:
        match = _RATE.match(value)
        if match is None:
            try:
                rate = float(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate: write a number per unit, e.g. '12/s', '600/m'"
                ) from None
        else:
            rate = float(match.group(1)) * _RATE_PER_S[match.group(2)]
    if rate <= 0:
        raise ValueError(f"rate {value!r} must be greater than zero")
    return rate
