"""Trend tests on window series: exact slopes on lines, a stated false-positive rate on flat
noise, strong slopes always caught, periods found against shuffles, and the start of a rise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats.trend_fit import (
    periodic_bursts,
    slope_interval,
    sustained_rise,
)

#: Share of flat series whose 95 % interval lies above 0 (nominal 2.5 %), as measured for
#: 30-120 windows at AR(1) phi 0 and 0.5 (``harness.stats.trend_fit``'s table).
FLAT_FALSE_RISES = 0.053


def _hours(n: int, width_min: float = 1.0) -> list[float]:
    return [(i + 0.5) * width_min / 60.0 for i in range(n)]


@pytest.mark.parametrize("robust", [True, False])
def test_a_noiseless_line_gives_its_exact_slope(robust: bool) -> None:
    times = _hours(30)
    found = slope_interval(times, [200.0 + 12.0 * t for t in times], np.random.default_rng(0))
    assert found.per_hour == pytest.approx(12.0)
    assert found.low == pytest.approx(12.0) and found.high == pytest.approx(12.0)
    assert found.level == pytest.approx(200.0 + 12.0 * float(np.median(times)))


def test_one_slow_window_does_not_tilt_the_robust_slope() -> None:
    values = [100.0] * 40
    values[-1] = 5000.0
    robust = slope_interval(_hours(40), values, np.random.default_rng(0))
    squares = slope_interval(_hours(40), values, np.random.default_rng(0), robust=False)
    assert robust.per_hour == 0.0
    assert squares.per_hour > 1000.0


def test_too_few_windows_is_an_error_not_a_slope() -> None:
    with pytest.raises(ValueError, match="at least 10 windows"):
        slope_interval(_hours(9), [1.0] * 9, np.random.default_rng(0))


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(30, 90),
    noise=st.floats(0.02, 0.3),
    phi=st.sampled_from([0.0, 0.5]),
)
def test_flat_noise_rarely_looks_rising(seed: int, n: int, noise: float, phi: float) -> None:
    """Flat series (iid or AR(1) noise): at most 6 of 20 have their interval above 0 (at the
    measured rate the chance of 7 or more is below 0.1 %)."""
    rng = np.random.default_rng(seed)
    rises = 0
    trials = 20
    for _ in range(trials):
        shocks = rng.standard_normal(n)
        series = np.empty(n)
        series[0] = shocks[0]
        for i in range(1, n):
            series[i] = phi * series[i - 1] + np.sqrt(1 - phi**2) * shocks[i]
        values = 500.0 * (1.0 + noise * series)
        found = slope_interval(_hours(n), values.tolist(), rng, resamples=300)
        rises += found.low > 0
    assert rises <= 6, (
        f"{rises} of {trials} flat series rising (measured rate {FLAT_FALSE_RISES:.1%})"
    )


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(30, 120), noise=st.floats(0.0, 0.1))
def test_a_strong_slope_is_always_caught(seed: int, n: int, noise: float) -> None:
    """50 % of the level per hour of run, noise up to 10 %: the interval lies above 0."""
    rng = np.random.default_rng(seed)
    times = np.asarray(_hours(n))
    span_h = n / 60.0
    values = 400.0 * (1.0 + 0.5 * times / span_h) * (1.0 + noise * rng.standard_normal(n))
    found = slope_interval(times.tolist(), values.tolist(), rng, resamples=300)
    assert found.low > 0


def test_bursts_every_ten_windows_are_periodic_and_flat_noise_is_not() -> None:
    rng = np.random.default_rng(3)
    base = 0.01 + 0.002 * rng.standard_normal(120)
    bursts = base + np.where(np.arange(120) % 10 == 0, 0.2, 0.0)
    found = periodic_bursts(bursts.tolist(), 60.0, np.random.default_rng(1))
    assert found.period_s == pytest.approx(600.0)
    assert found.low_s is not None and found.high_s is not None
    assert found.low_s < 600.0 < found.high_s
    assert found.p_value < 0.01
    quiet = periodic_bursts(base.tolist(), 60.0, np.random.default_rng(1))
    assert quiet.p_value > 0.01


def test_a_series_without_variation_has_no_period() -> None:
    found = periodic_bursts([0.0] * 60, 60.0, np.random.default_rng(0))
    assert (found.period_s, found.p_value, found.share) == (None, 1.0, 0.0)


def test_a_step_is_dated_where_it_happens_and_a_flat_series_has_no_start() -> None:
    rng = np.random.default_rng(5)
    flat = (100.0 + 5.0 * rng.standard_normal(80)).tolist()
    step = [v + (40.0 if i >= 50 else 0.0) for i, v in enumerate(flat)]
    since = sustained_rise(step, 0.01)
    assert since is not None and 44 <= since <= 50
    assert sustained_rise(flat, 0.01) is None
    assert sustained_rise(step[:17], 0.01) is None  # too short to hold a baseline and a rise
