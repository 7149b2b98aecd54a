"""The sweep's answer: every step's offered load, repeat, outcome and figures in; the highest
load meeting the SLO, its interval over repeats, and the frontier table out (JSON-ready).

A value meets the SLO when most of its repeats do (a tie misses); any invalid repeat makes it
invalid. The estimate is the highest value meeting the SLO below the lowest that misses it,
and its ``bound`` says what is known of the true limit: ``converged`` (bracketed within the
tolerance: the estimate), ``bracketed`` (somewhere in ``[estimate, lowest miss)``),
``at_least`` (no miss found above: the rig, the top or the step budget stopped the search),
``below`` (nothing met: under the lowest miss) or ``unknown``. Each repeat has its own limit
(the same rule over its own outcomes); with R repeats their range covers the median repeat's
limit with probability ``1 - 2^(1-R)``. Pure.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.capacity.sweep_search import Outcome, SearchSettings, bracket


@dataclass(frozen=True, slots=True)
class Step:
    """One run of the sweep: the value offered, which repeat, how it went and its figures
    (``offered_rps``, ``achieved_rps``, ``goodput_rps``, ``ttft_p50_ms``, ``ttft_p99_ms``,
    ``e2e_p50_ms``, ``e2e_p99_ms``, ``error_rate``; None when not measured)."""

    value: float
    repeat: int
    outcome: Outcome
    run: str
    figures: Mapping[str, float | None] = field(default_factory=dict)
    detail: str = ""


def pooled(steps: Sequence[Step]) -> list[tuple[float, Outcome]]:
    """One outcome per value tried, in the order first tried (the module docstring's rule)."""
    by_value: dict[float, list[Outcome]] = defaultdict(list)
    for step in steps:
        by_value[step.value].append(step.outcome)
    result = []
    for value, outcomes in by_value.items():
        if Outcome.INVALID in outcomes:
            result.append((value, Outcome.INVALID))
        else:
            met = sum(1 for o in outcomes if o is Outcome.MEETS)
            result.append((value, Outcome.MEETS if 2 * met > len(outcomes) else Outcome.MISSES))
    return result


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(known) if known else None


def figure_at(steps: Sequence[Step], value: float, name: str) -> float | None:
    """The median over valid repeats of a figure at one value."""
    return _median(
        [
            s.figures.get(name)
            for s in steps
            if s.value == value and s.outcome is not Outcome.INVALID
        ]
    )


def _limited_by(settings: SearchSettings, tried: Sequence[tuple[float, Outcome]]) -> str:
    found = bracket(tried)
    if any(o is Outcome.INVALID for _, o in tried):
        return "rig"
    if found.misses is not None and found.meets is not None:
        converged = (
            found.misses - found.meets <= 1
            if settings.whole
            else found.misses <= found.meets * (1.0 + settings.tolerance)
        )
        return "slo" if converged else "max_steps"
    if found.misses is not None:
        return "bottom" if len(tried) < settings.max_steps else "max_steps"
    return "top" if max(v for v, _ in tried) >= settings.top else "max_steps"


def _bound(found_meets: float | None, found_misses: float | None, limited_by: str) -> str:
    if found_meets is None:
        return "below" if found_misses is not None else "unknown"
    if found_misses is None:
        return "at_least"
    return "converged" if limited_by == "slo" else "bracketed"


def limit(steps: Sequence[Step], settings: SearchSettings) -> dict[str, Any]:
    """The highest value meeting the SLO, what bounds it, and the repeats' range."""
    tried = pooled(steps)
    if not tried:
        return {"value": None, "bound": "unknown", "limited_by": None, "interval": None}
    found = bracket(tried)
    limited_by = _limited_by(settings, tried)
    repeats = sorted({s.repeat for s in steps})
    per_repeat = [
        bracket([(s.value, s.outcome) for s in steps if s.repeat == r]).meets for r in repeats
    ]
    interval = None
    if len(repeats) >= 2 and all(v is not None for v in per_repeat):
        known = [v for v in per_repeat if v is not None]
        interval = {
            "low": min(known),
            "high": max(known),
            "coverage": 1.0 - 2.0 ** (1 - len(repeats)),
        }
    return {
        "value": found.meets,
        "lowest_miss": found.misses,
        "bound": _bound(found.meets, found.misses, limited_by),
        "limited_by": limited_by,
        "per_repeat": per_repeat,
        "interval": interval,
    }


def frontier(
    steps: Sequence[Step], metric: str, limits_ms: Sequence[float]
) -> list[dict[str, Any]]:
    """For each limit, the highest value tried whose p99 of ``metric`` (``ttft`` or ``e2e``)
    stays under it below the first value where it does not (a value with no latency, nothing
    having succeeded, counts as over); ``bound`` as for ``limit``."""
    values = sorted({s.value for s in steps if s.outcome is not Outcome.INVALID})
    p99 = {v: figure_at(steps, v, f"{metric}_p99_ms") for v in values}
    rows = []
    for limit_ms in limits_ms:
        under: float | None = None
        over: float | None = None
        for value in values:
            figure = p99[value]
            if figure is None or figure >= limit_ms:
                over = value
                break
            under = value
        bound = "below" if under is None else "at_least" if over is None else "bracketed"
        rows.append(
            {
                "metric": f"{metric}_ms",
                "limit_ms": limit_ms,
                "value": under,
                "first_over": over,
                "bound": bound,
                "achieved_rps": None if under is None else figure_at(steps, under, "achieved_rps"),
            }
        )
    return rows


def result_figures(steps: Sequence[Step], found: Mapping[str, Any], by: str) -> dict[str, Any]:
    """The ``[sweep]`` figures of the answer: the rate or concurrency, requests/s achieved
    there, and the highest goodput any valid step reached."""
    value = found.get("value")
    goodputs = [
        g
        for s in steps
        if s.outcome is not Outcome.INVALID and (g := s.figures.get("goodput_rps")) is not None
    ]
    invalid = next((s.run for s in steps if s.outcome is Outcome.INVALID), None)
    return {
        "max_rate_meeting_slo": value if by == "rate" else None,
        "max_concurrency_meeting_slo": value if by == "concurrency" else None,
        "max_rps_meeting_slo": None if value is None else figure_at(steps, value, "achieved_rps"),
        "max_goodput_rps": max(goodputs) if goodputs else None,
        "invalid_run": invalid,
    }


def step_json(step: Step) -> dict[str, Any]:
    return {
        "value": step.value,
        "repeat": step.repeat,
        "outcome": step.outcome.value,
        "run": step.run,
        "figures": dict(step.figures),
        "detail": step.detail,
    }
