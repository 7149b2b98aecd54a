"""The sweep's search: the values tried so far and how each went in, the next offered load
to try out (or None: done), rising by a factor until the SLO breaks, then bisecting the knee.

A value *meets* the SLO, *misses* it, or is *invalid* (the test rig could not hold it). The
search rises from ``start`` by ``growth`` until a value misses or ``top`` is reached, then
bisects between the highest value that met below the lowest miss and that miss, until they
are within ``tolerance`` of each other (or 1 apart for whole numbers, a concurrency). A
first value that misses sends the search down by ``growth`` instead, never below ``bottom``.
The first invalid value ends the search: it says nothing about the system, and no higher
load can be trusted either. ``max_steps`` bounds the count. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    MEETS = "meets"
    MISSES = "misses"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class SearchSettings:
    start: float
    growth: float = 2.0
    top: float = math.inf
    bottom: float = 0.0
    tolerance: float = 0.05
    max_steps: int = 12
    #: Values are whole numbers (sessions in flight), at least 1.
    whole: bool = False

    def __post_init__(self) -> None:
        if not (self.start > 0 and self.growth > 1 and self.tolerance > 0 and self.max_steps > 0):
            raise ValueError("start > 0, growth > 1, tolerance > 0 and max_steps > 0")
        if self.top < self.start:
            raise ValueError("the highest value is below the first")


@dataclass(frozen=True, slots=True)
class Bracket:
    """The highest value meeting the SLO below the lowest value missing it (None: none)."""

    meets: float | None
    misses: float | None


def bracket(tried: Sequence[tuple[float, Outcome]]) -> Bracket:
    missed = [value for value, outcome in tried if outcome is Outcome.MISSES]
    low_miss = min(missed) if missed else None
    met = [
        value
        for value, outcome in tried
        if outcome is Outcome.MEETS and (low_miss is None or value < low_miss)
    ]
    return Bracket(max(met) if met else None, low_miss)


def _fit(settings: SearchSettings, value: float) -> float:
    return float(max(1, round(value))) if settings.whole else value


def next_value(settings: SearchSettings, tried: Sequence[tuple[float, Outcome]]) -> float | None:
    """The next value to try, or None when the search is over (see the module docstring)."""
    if not tried:
        return _fit(settings, settings.start)
    if len(tried) >= settings.max_steps or any(o is Outcome.INVALID for _, o in tried):
        return None
    done = {value for value, _ in tried}
    found = bracket(tried)
    if found.misses is None:  # still rising
        last = max(done)
        if last >= settings.top:
            return None
        candidate = _fit(settings, min(last * settings.growth, settings.top))
        return candidate if candidate not in done else None
    if found.meets is None:  # missed from the first value: go down
        candidate = _fit(settings, found.misses / settings.growth)
        if candidate < max(settings.bottom, 1.0 if settings.whole else 0.0) or candidate in done:
            return None
        return candidate
    low, high = found.meets, found.misses
    if settings.whole and high - low <= 1:
        return None
    if high <= low * (1.0 + settings.tolerance):
        return None
    middle = _fit(settings, (low + high) / 2.0)
    return middle if low < middle < high and middle not in done else None
