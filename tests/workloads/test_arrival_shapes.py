"""Gamma arrivals and rate shapes, tested with numbers: long runs converge to the configured
rate and CV within tolerances computed from the sample, and each shape moves the local rate
to what its closed-form integral says."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.traffic import Arrival
from workloads.arrival_shapes import rate_multiplier
from workloads.arrivals import session_offsets_s


def _arrivals(seed: int = 1, duration_s: float = 600.0, **arrival: Any) -> np.ndarray:
    return np.asarray(
        session_offsets_s(Arrival.model_validate(arrival), duration_s, np.random.default_rng(seed))
    )


def _cv_and_standard_error(gaps: np.ndarray) -> tuple[float, float]:
    # Delta method on (mean, variance), with the sample's own third and fourth moments.
    n, mean, var = len(gaps), float(gaps.mean()), float(gaps.var())
    centred = gaps - mean
    mu3, mu4 = float(np.mean(centred**3)), float(np.mean(centred**4))
    sd = math.sqrt(var)
    d_var, d_mean = 1.0 / (2.0 * sd * mean), -sd / mean**2
    variance = (d_var**2 * (mu4 - var**2) + d_mean**2 * var + 2 * d_var * d_mean * mu3) / n
    return sd / mean, math.sqrt(variance)


@pytest.mark.parametrize("cv", [0.5, 1.0, 2.0])
def test_gamma_converges_to_the_rate_and_the_cv(cv: float) -> None:
    rate, duration_s = 40.0, 2500.0
    offsets = _arrivals(duration_s=duration_s, process="gamma", rate=rate, cv=cv)
    expected = rate * duration_s
    assert abs(len(offsets) - expected) <= 5.0 * cv * math.sqrt(expected)
    measured, error = _cv_and_standard_error(np.diff(offsets))
    assert abs(measured - cv) <= 5.0 * error
    assert error < 0.1 * cv  # the tolerance is tight enough to mean something


def _diurnal_integral(a_s: float, b_s: float, ratio: float, period_s: float) -> float:
    amplitude = (ratio - 1) / (ratio + 1)

    def primitive(t: float) -> float:
        return t - amplitude * period_s / (2 * math.pi) * math.sin(2 * math.pi * t / period_s)

    return primitive(b_s) - primitive(a_s)


def _count(offsets: np.ndarray, a_s: float, b_s: float) -> int:
    return int(((offsets >= a_s) & (offsets < b_s)).sum())


@pytest.mark.parametrize("ratio", [2.0, 10.0, 30.0])
def test_diurnal_sets_peak_to_trough_and_keeps_the_mean_rate(ratio: float) -> None:
    shape = [{"kind": "diurnal", "peak_to_trough": ratio}]
    arrival = Arrival.model_validate({"shape": shape})
    grid = np.linspace(0.0, 600.0, 60_001)
    multiplier = rate_multiplier(arrival.shape, 600.0, grid)
    assert multiplier.max() / multiplier.min() == pytest.approx(ratio, rel=1e-9)
    assert float(multiplier[:-1].mean()) == pytest.approx(1.0, abs=1e-6)
    rate = 30.0
    offsets = _arrivals(process="poisson", rate=rate, shape=shape)
    for a_s, b_s in [(0, 60), (270, 330), (540, 600), (0, 600)]:
        expected = rate * _diurnal_integral(a_s, b_s, ratio, 600.0)
        assert abs(_count(offsets, a_s, b_s) - expected) <= 5 * math.sqrt(expected)


def test_a_burst_multiplies_the_rate_inside_its_window_only() -> None:
    rate = 20.0
    offsets = _arrivals(
        process="poisson",
        rate=rate,
        shape=[{"kind": "burst", "at": "200s", "length": "50s", "multiplier": 4}],
    )
    for a_s, b_s, multiplier in [(100, 200, 1), (200, 250, 4), (250, 350, 1)]:
        expected = rate * multiplier * (b_s - a_s)
        assert abs(_count(offsets, a_s, b_s) - expected) <= 5 * math.sqrt(expected)


def test_a_ramp_and_stages_follow_their_integrals() -> None:
    rate = 25.0
    ramp = _arrivals(
        process="poisson",
        rate=rate,
        shape=[{"kind": "ramp", "at": "100s", "length": "200s", "start": 0.2}],
    )
    for a_s, b_s, mean_multiplier in [(0, 100, 0.2), (100, 300, 0.6), (300, 600, 1.0)]:
        expected = rate * mean_multiplier * (b_s - a_s)
        assert abs(_count(ramp, a_s, b_s) - expected) <= 5 * math.sqrt(expected)
    stages = [
        {"length": "1m", "multiplier": 0.5},
        {"length": "2m", "multiplier": 0},
        {"length": "1m", "multiplier": 3},
    ]
    staged = _arrivals(process="poisson", rate=rate, shape=[{"kind": "stages", "stages": stages}])
    assert _count(staged, 60, 180) == 0
    for a_s, b_s, multiplier in [(0, 60, 0.5), (180, 240, 3), (240, 600, 3)]:
        expected = rate * multiplier * (b_s - a_s)
        assert abs(_count(staged, a_s, b_s) - expected) <= 5 * math.sqrt(expected)


def test_a_constant_process_under_a_shape_is_an_exact_grid_in_expected_arrivals() -> None:
    offsets = _arrivals(
        process="constant",
        rate=10.0,
        duration_s=100.0,
        shape=[{"kind": "burst", "at": "50s", "length": "10s", "multiplier": 3}],
    )
    assert len(offsets) == 1000 + 200
    assert _count(offsets, 50, 60) == 300
    assert np.allclose(np.diff(offsets[(offsets > 51) & (offsets < 59)]), 1 / 30)


def test_gamma_under_a_diurnal_shape_keeps_its_mean_rate() -> None:
    rate, duration_s = 40.0, 1200.0
    offsets = _arrivals(
        duration_s=duration_s,
        process="gamma",
        rate=rate,
        cv=2.0,
        shape=[{"kind": "diurnal", "peak_to_trough": 10}],
    )
    expected = rate * duration_s
    assert abs(len(offsets) - expected) <= 5.0 * 2.0 * math.sqrt(expected)


_SHAPE = st.one_of(
    st.builds(lambda r: {"kind": "diurnal", "peak_to_trough": r}, st.floats(1, 50)),
    st.builds(
        lambda at, n, m: {"kind": "burst", "at": at, "length": n, "multiplier": m},
        st.floats(0, 100),
        st.floats(0.5, 50),
        st.floats(0.1, 10),
    ),
    st.builds(
        lambda at, n, a, b: {"kind": "ramp", "at": at, "length": n, "start": a, "end": b},
        st.floats(0, 100),
        st.floats(0.5, 50),
        st.floats(0, 3),
        st.floats(0, 3),
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["constant", "poisson", "gamma"]),
    st.floats(0.2, 20),
    st.floats(0.3, 4),
    st.lists(_SHAPE, max_size=3),
    st.integers(0, 2**32),
)
def test_shaped_offsets_are_sorted_inside_the_run_and_reproducible(
    process: str, rate: float, cv: float, shapes: list[dict[str, Any]], seed: int
) -> None:
    arrival = {"process": process, "rate": rate, "cv": cv, "shape": shapes}
    offsets = _arrivals(seed=seed, duration_s=100.0, **arrival)
    assert np.all(np.diff(offsets) >= 0)
    assert np.all((offsets >= 0) & (offsets < 100.0))
    assert np.array_equal(offsets, _arrivals(seed=seed, duration_s=100.0, **arrival))
