"""Arrival-rate shapes: the ``[[arrival.shape]]`` list, a run duration and times in, the rate
multiplier at those times out; and the time warp that bends a unit-rate arrival stream into
one whose local rate is ``rate * multiplier(t)``.

Shapes compose by product. The warp is the time-rescaling theorem: if ``u`` are arrivals of a
unit-rate renewal process, ``Lambda^-1(u)`` (``Lambda`` the integral of the rate) are arrivals
at the shaped rate with the same burstiness. ``Lambda`` is integrated exactly per cell of a
fine grid that includes every shape's breakpoints, with the multiplier taken at each cell's
midpoint, so bursts and stages switch exactly on time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from harness.contract.traffic import ArrivalShape, Burst, Diurnal, Ramp, Stages

Floats = npt.NDArray[np.float64]
_Multiplier = Callable[[ArrivalShape, float, Floats], Floats]
_CELLS = 20_000


def _diurnal(shape: ArrivalShape, duration_s: float, times_s: Floats) -> Floats:
    assert isinstance(shape, Diurnal)
    period_s = shape.period or duration_s
    amplitude = (shape.peak_to_trough - 1.0) / (shape.peak_to_trough + 1.0)
    result: Floats = 1.0 - amplitude * np.cos(2.0 * math.pi * times_s / period_s)
    return result


def _burst(shape: ArrivalShape, duration_s: float, times_s: Floats) -> Floats:
    assert isinstance(shape, Burst)
    inside = (times_s >= shape.at) & (times_s < shape.at + shape.length)
    return np.where(inside, shape.multiplier, 1.0)


def _ramp(shape: ArrivalShape, duration_s: float, times_s: Floats) -> Floats:
    assert isinstance(shape, Ramp)
    progress = np.clip((times_s - shape.at) / shape.length, 0.0, 1.0)
    result: Floats = shape.start + (shape.end - shape.start) * progress
    return result


def _stages(shape: ArrivalShape, duration_s: float, times_s: Floats) -> Floats:
    assert isinstance(shape, Stages)
    ends_s = np.cumsum([stage.length for stage in shape.stages])
    levels = np.array([stage.multiplier for stage in shape.stages])
    index = np.minimum(np.searchsorted(ends_s, times_s, side="right"), len(levels) - 1)
    result: Floats = levels[index]
    return result


_MULTIPLIERS: dict[str, _Multiplier] = {
    "diurnal": _diurnal,
    "burst": _burst,
    "ramp": _ramp,
    "stages": _stages,
}


def shape_kinds() -> tuple[str, ...]:
    """The ``[[arrival.shape]]`` kinds this module knows."""
    return tuple(sorted(_MULTIPLIERS))


def rate_multiplier(shapes: Sequence[ArrivalShape], duration_s: float, times_s: Floats) -> Floats:
    """The product of every shape's multiplier at ``times_s``."""
    result: Floats = np.ones_like(times_s, dtype=float)
    for shape in shapes:
        result = result * _MULTIPLIERS[shape.kind](shape, duration_s, times_s)
    return result


def _breakpoints(shapes: Sequence[ArrivalShape]) -> list[float]:
    points: list[float] = []
    for shape in shapes:
        if isinstance(shape, Burst):
            points += [shape.at, shape.at + shape.length]
        elif isinstance(shape, Ramp):
            points += [shape.at, shape.at + shape.length]
        elif isinstance(shape, Stages):
            points += [float(end) for end in np.cumsum([s.length for s in shape.stages])]
    return points


def cumulative_rate(
    shapes: Sequence[ArrivalShape], rate_per_s: float, duration_s: float
) -> tuple[Floats, Floats]:
    """Grid times and ``Lambda`` (expected arrivals since 0) at them, over ``[0, duration]``."""
    grid = np.linspace(0.0, duration_s, _CELLS + 1)
    extra = [point for point in _breakpoints(shapes) if 0.0 < point < duration_s]
    times_s: Floats = np.unique(np.concatenate([grid, np.asarray(extra, dtype=float)]))
    middles = (times_s[:-1] + times_s[1:]) / 2.0
    per_cell = rate_per_s * rate_multiplier(shapes, duration_s, middles) * np.diff(times_s)
    totals: Floats = np.concatenate([[0.0], np.cumsum(per_cell)])
    return times_s, totals


def warp(
    unit_times: Floats, shapes: Sequence[ArrivalShape], rate_per_s: float, duration_s: float
) -> list[float]:
    """Arrivals of a unit-rate stream mapped to the shaped rate; those past the run dropped."""
    times_s, totals = cumulative_rate(shapes, rate_per_s, duration_s)
    # Summing the cells leaves float noise in the total: an arrival within it of the end
    # belongs to the end of the run, which [0, duration) excludes.
    horizon = float(totals[-1]) * (1.0 - 1e-12)
    inside = unit_times[unit_times < horizon]
    cell = np.clip(np.searchsorted(totals, inside, side="right") - 1, 0, len(times_s) - 2)
    width = totals[cell + 1] - totals[cell]
    # A zero-rate cell cannot hold an arrival; guard the division all the same.
    fraction = np.where(width > 0, (inside - totals[cell]) / np.where(width > 0, width, 1.0), 0.0)
    mapped = times_s[cell] + fraction * (times_s[cell + 1] - times_s[cell])
    return [float(t) for t in np.minimum(mapped, np.nextafter(duration_s, 0.0))]
