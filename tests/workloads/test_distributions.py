"""Distribution sampling: bounds hold for every kind and long-run statistics converge."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.distributions import Dist
from workloads.distributions import int_floor, sample_duration_s, sample_float, sample_int

SAMPLES = 2000
#: Tolerances are this many standard errors: a false failure is a ~1e-6 event per check.
SIGMAS = 5.0

seeds = st.integers(min_value=0, max_value=2**32)


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _draws(dist: Dist, seed: int, count: int = SAMPLES) -> np.ndarray:
    rng = _rng(seed)
    return np.array([sample_float(dist, rng) for _ in range(count)])


@st.composite
def bounded_dists(draw: st.DrawFn) -> Dist:
    kind = draw(
        st.sampled_from(["constant", "uniform", "lognormal", "normal", "exponential", "geometric"])
    )
    low = draw(st.floats(min_value=0.0, max_value=50.0))
    high = low + draw(st.floats(min_value=0.0, max_value=500.0))
    params: dict[str, float] = {
        "constant": {"value": draw(st.floats(min_value=-10.0, max_value=600.0))},
        "uniform": {},
        "lognormal": {
            "median": draw(st.floats(min_value=0.5, max_value=500.0)),
            "sigma": draw(st.floats(min_value=0.0, max_value=2.0)),
        },
        "normal": {
            "mean": draw(st.floats(min_value=-50.0, max_value=500.0)),
            "std": draw(st.floats(min_value=0.0, max_value=200.0)),
        },
        "exponential": {"mean": draw(st.floats(min_value=0.1, max_value=300.0))},
        "geometric": {"mean": draw(st.floats(min_value=1.0, max_value=50.0))},
    }[kind]
    return Dist(dist=kind, min=low, max=high, **params)


@settings(max_examples=60, deadline=None)
@given(bounded_dists(), seeds)
def test_every_kind_respects_its_bounds(dist: Dist, seed: int) -> None:
    assert dist.min is not None and dist.max is not None
    rng = _rng(seed)
    for _ in range(200):
        value = sample_float(dist, rng)
        assert dist.min <= value <= dist.max
        count = sample_int(dist, rng)
        assert count >= int_floor(dist) >= 0
        if math.floor(dist.max) >= int_floor(dist):
            assert count <= math.floor(dist.max)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["lognormal", "exponential", "geometric", "uniform"]), seeds)
def test_unbounded_counts_are_at_least_one(kind: str, seed: int) -> None:
    params: dict[str, float] = {
        "lognormal": {"median": 1.0, "sigma": 2.0},
        "exponential": {"mean": 0.5},
        "geometric": {"mean": 1.5},
        "uniform": {"min": 0.0, "max": 0.4},
    }[kind]
    dist = Dist(dist=kind, **params)
    rng = _rng(seed)
    floor = 0 if kind == "uniform" else 1  # uniform names its own lower end (min = 0)
    assert min(sample_int(dist, rng) for _ in range(300)) >= floor


def test_explicit_zero_is_allowed_for_constants_and_min_zero() -> None:
    rng = _rng(1)
    assert sample_int(Dist(dist="constant", value=0), rng) == 0
    assert sample_int(Dist(dist="constant", value=-3), rng) == 0
    zero_min = Dist(dist="exponential", mean=0.2, min=0)
    assert 0 in {sample_int(zero_min, rng) for _ in range(200)}


def test_durations_are_never_negative() -> None:
    dist = Dist(dist="normal", mean=0.0, std=1.0)
    rng = _rng(3)
    assert min(sample_duration_s(dist, rng) for _ in range(200)) == 0.0


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6), seeds)
def test_constant_is_exact(value: float, seed: int) -> None:
    assert sample_float(Dist(dist="constant", value=value), _rng(seed)) == value


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=0.5, max_value=5000.0), st.floats(min_value=0.05, max_value=1.5), seeds)
def test_lognormal_median_converges(median: float, sigma: float, seed: int) -> None:
    logs = np.log(_draws(Dist(dist="lognormal", median=median, sigma=sigma), seed))
    # The sample median of a normal has standard error sqrt(pi/2) * sigma / sqrt(n).
    tolerance = SIGMAS * math.sqrt(math.pi / 2) * sigma / math.sqrt(SAMPLES)
    assert abs(float(np.median(logs)) - math.log(median)) <= tolerance


@settings(max_examples=15, deadline=None)
@given(
    st.floats(min_value=-1000.0, max_value=1000.0), st.floats(min_value=0.1, max_value=300.0), seeds
)
def test_normal_mean_converges(mean: float, std: float, seed: int) -> None:
    draws = _draws(Dist(dist="normal", mean=mean, std=std), seed)
    assert abs(float(draws.mean()) - mean) <= SIGMAS * std / math.sqrt(SAMPLES)


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=0.01, max_value=1000.0), seeds)
def test_exponential_mean_converges(mean: float, seed: int) -> None:
    draws = _draws(Dist(dist="exponential", mean=mean), seed)
    assert draws.min() >= 0.0
    assert abs(float(draws.mean()) - mean) <= SIGMAS * mean / math.sqrt(SAMPLES)


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=1.0, max_value=100.0), seeds)
def test_geometric_mean_converges_on_positive_integers(mean: float, seed: int) -> None:
    draws = _draws(Dist(dist="geometric", mean=mean), seed)
    assert draws.min() >= 1.0
    assert np.all(draws == np.round(draws))
    p = 1.0 / mean
    std = math.sqrt(1.0 - p) / p
    assert abs(float(draws.mean()) - mean) <= SIGMAS * std / math.sqrt(SAMPLES) + 1e-9


@settings(max_examples=15, deadline=None)
@given(
    st.floats(min_value=-100.0, max_value=100.0), st.floats(min_value=0.0, max_value=500.0), seeds
)
def test_uniform_mean_converges(low: float, width: float, seed: int) -> None:
    draws = _draws(Dist(dist="uniform", min=low, max=low + width), seed)
    std = width / math.sqrt(12.0)
    assert abs(float(draws.mean()) - (low + width / 2)) <= SIGMAS * std / math.sqrt(SAMPLES) + 1e-9


def test_same_rng_state_same_samples() -> None:
    dist = Dist(dist="lognormal", median=100, sigma=1.0)
    assert list(_draws(dist, 11, 50)) == list(_draws(dist, 11, 50))
    assert list(_draws(dist, 11, 50)) != list(_draws(dist, 12, 50))
