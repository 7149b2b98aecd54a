"""Arrival processes: the constant grid is exact, poisson converges to its rate."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.traffic import Arrival
from workloads.arrivals import arrival_processes, session_offsets_s

seeds = st.integers(min_value=0, max_value=2**32)


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0.05, max_value=200.0), st.floats(min_value=0.01, max_value=60.0), seeds)
def test_constant_arrivals_are_exactly_on_the_grid(
    rate_per_s: float, duration_s: float, seed: int
) -> None:
    arrival = Arrival(process="constant", rate=rate_per_s)
    offsets = session_offsets_s(arrival, duration_s, _rng(seed))
    assert offsets[0] == 0.0
    assert offsets == [index / rate_per_s for index in range(len(offsets))]
    assert offsets[-1] < duration_s
    assert len(offsets) / rate_per_s >= duration_s  # the next grid point is past the end


@settings(max_examples=20, deadline=None)
@given(st.floats(min_value=0.5, max_value=100.0), seeds)
def test_poisson_arrivals_converge_to_the_rate(rate_per_s: float, seed: int) -> None:
    duration_s = 5000.0 / rate_per_s
    offsets = session_offsets_s(Arrival(process="poisson", rate=rate_per_s), duration_s, _rng(seed))
    expected = rate_per_s * duration_s
    # The count is Poisson(expected): standard deviation sqrt(expected).
    assert abs(len(offsets) - expected) <= 5.0 * math.sqrt(expected)
    assert all(0.0 <= offset < duration_s for offset in offsets)
    assert offsets == sorted(offsets)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["constant", "poisson"]),
    st.floats(min_value=0.5, max_value=50.0),
    st.floats(min_value=0.1, max_value=30.0),
    seeds,
)
def test_a_longer_run_extends_a_shorter_one(
    process: str, rate_per_s: float, duration_s: float, seed: int
) -> None:
    arrival = Arrival.model_validate({"process": process, "rate": rate_per_s})
    short = session_offsets_s(arrival, duration_s, _rng(seed))
    long = session_offsets_s(arrival, duration_s * 3.0, _rng(seed))
    assert long[: len(short)] == short
    assert long == sorted(long)


def test_same_rng_same_offsets_and_seed_matters() -> None:
    arrival = Arrival(process="poisson", rate=5.0)
    assert session_offsets_s(arrival, 30.0, _rng(1)) == session_offsets_s(arrival, 30.0, _rng(1))
    assert session_offsets_s(arrival, 30.0, _rng(1)) != session_offsets_s(arrival, 30.0, _rng(2))


def test_nothing_arrives_in_an_empty_run() -> None:
    assert session_offsets_s(Arrival(process="poisson", rate=5.0), 0.0, _rng(1)) == []


def test_every_scenario_process_has_an_implementation() -> None:
    allowed = set(Arrival.model_fields["process"].annotation.__args__)  # type: ignore[union-attr]
    assert allowed - {"concurrency"} == set(arrival_processes())  # the closed loop has none
