"""Sampling of scenario distributions: a ``Dist`` (harness.contract) and an RNG in, one number out.

Bounds are applied by clipping (values beyond ``min``/``max`` land on the bound) rather than
by re-drawing, so every sample costs exactly one draw and a plan stays cheap to rebuild; a
tight bound therefore puts a visible spike of mass on the bound, which is what a "cap" means
for token counts and context limits.

Integer samples (token counts, turns) round half up and are never negative. They are at least
1 unless the distribution names its own lower end: an explicit ``min`` (then the floor is
``ceil(min)``, at least 0) or a ``constant`` (then the value itself, at least 0). So a
lognormal prompt never yields an empty message, while ``tool_output_tokens = 0`` or
``min = 0`` allow zero on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from harness.contract.distributions import Dist

_Sampler = Callable[[Dist, np.random.Generator], float]
_LARGEST_COUNT = float(2**53)


def _need(value: float | None, name: str, dist: Dist) -> float:
    # The scenario validator guarantees the parameters a kind needs; this keeps mypy honest
    # and gives a readable error if a Dist was built by hand without validation.
    if value is None:
        raise ValueError(f"dist '{dist.dist}' needs {name}")
    return float(value)


def _constant(dist: Dist, rng: np.random.Generator) -> float:
    return _need(dist.value, "value", dist)


def _uniform(dist: Dist, rng: np.random.Generator) -> float:
    return float(rng.uniform(_need(dist.min, "min", dist), _need(dist.max, "max", dist)))


def _lognormal(dist: Dist, rng: np.random.Generator) -> float:
    # A trace-fitted lognormal has median and sigma filled in by the planner.
    median = _need(dist.median, "median", dist)
    return float(rng.lognormal(math.log(median), _need(dist.sigma, "sigma", dist)))


def _normal(dist: Dist, rng: np.random.Generator) -> float:
    return float(rng.normal(_need(dist.mean, "mean", dist), _need(dist.std, "std", dist)))


def _exponential(dist: Dist, rng: np.random.Generator) -> float:
    # A non-positive mean is not rejected by the scenario model; treat it as "always 0"
    # instead of letting numpy raise from deep inside the planner.
    return float(rng.exponential(max(_need(dist.mean, "mean", dist), 0.0)))


def _geometric(dist: Dist, rng: np.random.Generator) -> float:
    # Support 1, 2, ... with mean 1/p.
    mean = max(_need(dist.mean, "mean", dist), 1.0)
    return float(rng.geometric(1.0 / mean))


def _zipf(dist: Dist, rng: np.random.Generator) -> float:
    # Support 1, 2, ... with P(k) proportional to k**-s; numpy needs s > 1 (the model checks).
    return float(rng.zipf(_need(dist.s, "s", dist)))


def _empirical(dist: Dist, rng: np.random.Generator) -> float:
    # A trace-backed Dist has its values filled in by the planner (workloads.fitting).
    if not dist.values:
        raise ValueError("dist 'empirical' needs values (a trace column is read by the planner)")
    return float(dist.values[int(rng.integers(len(dist.values)))])


_SAMPLERS: dict[str, _Sampler] = {
    "constant": _constant,
    "uniform": _uniform,
    "lognormal": _lognormal,
    "normal": _normal,
    "exponential": _exponential,
    "geometric": _geometric,
    "zipf": _zipf,
    "empirical": _empirical,
}


def sample_float(dist: Dist, rng: np.random.Generator) -> float:
    """One draw from ``dist``, clipped to its ``min``/``max`` when they are given."""
    value = _SAMPLERS[dist.dist](dist, rng)
    if dist.min is not None:
        value = max(value, float(dist.min))
    if dist.max is not None:
        value = min(value, float(dist.max))
    return value


def sample_duration_s(dist: Dist, rng: np.random.Generator) -> float:
    """One draw as a duration in seconds: like ``sample_float`` but never negative."""
    return max(sample_float(dist, rng), 0.0)


def int_floor(dist: Dist) -> int:
    """The smallest integer ``sample_int`` may return for ``dist`` (see the module docstring)."""
    if dist.min is not None:
        return max(math.ceil(dist.min), 0)
    if dist.dist == "constant":
        return 0
    return 1


def sample_int(dist: Dist, rng: np.random.Generator) -> int:
    """One draw rounded half up to an integer within ``[int_floor(dist), floor(max)]``."""
    # A heavy tail without ``max`` can overflow to inf; cap it where floats stop being exact.
    value = math.floor(min(sample_float(dist, rng), _LARGEST_COUNT) + 0.5)
    low = int_floor(dist)
    if dist.max is not None and math.floor(dist.max) >= low:
        value = min(value, math.floor(dist.max))
    return max(value, low)
