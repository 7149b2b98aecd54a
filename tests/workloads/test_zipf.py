"""The ``zipf`` distribution: counts >= 1 whose frequencies follow k**-s, capped by ``max``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.contract.distributions import Dist
from workloads.distributions import sample_float, sample_int

SAMPLES = 4000
#: Tolerances are this many standard errors: a false failure is a ~1e-6 event per check.
SIGMAS = 5.0

seeds = st.integers(min_value=0, max_value=2**32)


def _zeta(s: float, terms: int = 1000) -> float:
    """Riemann zeta for s > 1: a partial sum plus the Euler-Maclaurin tail."""
    head = math.fsum(math.pow(k, -s) for k in range(1, terms + 1))
    return head + math.pow(terms, 1 - s) / (s - 1) - 0.5 * math.pow(terms, -s)


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=1.3, max_value=3.5), seeds)
def test_frequencies_of_small_counts_follow_the_power_law(s: float, seed: int) -> None:
    dist = Dist(dist="zipf", s=s)
    rng = _rng(seed)
    draws = np.array([sample_int(dist, rng) for _ in range(SAMPLES)])
    assert draws.min() >= 1
    assert np.all(draws == np.floor(draws))
    norm = _zeta(s)
    for k in range(1, 5):
        expected = math.pow(k, -s) / norm
        error = SIGMAS * math.sqrt(expected * (1 - expected) / SAMPLES)
        assert abs(float(np.mean(draws == k)) - expected) <= error, k


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=1.01, max_value=2.0), st.integers(min_value=1, max_value=50), seeds)
def test_max_caps_counts_and_the_tail_lands_on_it(s: float, cap: int, seed: int) -> None:
    dist = Dist(dist="zipf", s=s, max=cap)
    rng = _rng(seed)
    draws = [sample_int(dist, rng) for _ in range(500)]
    assert 1 <= min(draws) and max(draws) <= cap
    assert all(1 <= sample_float(dist, rng) <= cap for _ in range(100))


def test_a_heavier_exponent_gives_smaller_counts() -> None:
    light, heavy = Dist(dist="zipf", s=1.2, max=10_000), Dist(dist="zipf", s=3.0, max=10_000)
    rng = _rng(7)
    light_mean = np.mean([sample_int(light, rng) for _ in range(SAMPLES)])
    heavy_mean = np.mean([sample_int(heavy, rng) for _ in range(SAMPLES)])
    assert heavy_mean < light_mean


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "dist 'zipf' needs s"),
        ({"s": 1.0}, "greater than 1"),
        ({"s": 0.5}, "greater than 1"),
    ],
)
def test_an_exponent_of_one_or_less_is_rejected(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Dist(dist="zipf", **fields)
