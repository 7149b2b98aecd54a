"""The live histogram: samples in, quantiles within its stated accuracy and exact count, sum,
min and max out, in bounded memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.stats.histogram import DEFAULT_ACCURACY, LogHistogram

samples_ms = st.lists(st.floats(0.01, 1e6, allow_nan=False), min_size=1, max_size=300)


def _filled(values: list[float]) -> LogHistogram:
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)
    return histogram


@given(samples_ms, st.floats(0.0, 1.0))
def test_a_quantile_is_within_the_accuracy_of_the_sample_at_its_rank(
    values: list[float], q: float
) -> None:
    found = _filled(values).quantile(q)
    ordered = sorted(values)
    at_rank = ordered[math.floor(q * (len(values) - 1))]
    assert found is not None
    assert abs(found - at_rank) <= DEFAULT_ACCURACY * at_rank * (1 + 1e-9)


@given(samples_ms)
def test_count_sum_min_max_are_exact(values: list[float]) -> None:
    histogram = _filled(values)
    assert histogram.aggregate("count") == len(values)
    assert histogram.aggregate("min") == min(values)
    assert histogram.aggregate("max") == max(values)
    assert histogram.aggregate("avg") == pytest.approx(float(np.mean(values)))


def test_memory_stays_bounded_however_many_samples() -> None:
    rng = np.random.default_rng(7)
    histogram = _filled(list(rng.lognormal(3.0, 4.0, 100_000)))
    histogram.add(0.0)
    histogram.add(1e15)  # clamped into the top bucket
    assert histogram.count == 100_002
    assert histogram.buckets < 4000


def test_zero_and_negative_samples_share_the_bottom_bucket() -> None:
    histogram = _filled([-1.0, 0.0, 5.0, float("nan")])
    assert histogram.count == 3
    assert histogram.quantile(0.0) == 0.0  # below zero counts as zero (a lag of -1 us)
    assert histogram.aggregate("min") == -1.0
    assert histogram.quantile(0.5) == 0.0
    assert histogram.quantile(1.0) == pytest.approx(5.0, rel=DEFAULT_ACCURACY)


def test_no_samples_no_figure() -> None:
    histogram = LogHistogram()
    assert histogram.quantile(0.5) is None
    assert histogram.aggregate("p", 99.0) is None
    assert histogram.aggregate("count") == 0.0
    with pytest.raises(ValueError):
        LogHistogram(accuracy=0.0)


@given(st.lists(st.floats(-5.0, 1e6, allow_nan=False), max_size=40))
def test_adding_many_at_once_is_adding_each(values: list[float]) -> None:
    one_by_one, at_once = _filled(values), LogHistogram()
    at_once.add_many([*values, float("inf")])
    assert at_once.count == one_by_one.count and at_once.buckets == one_by_one.buckets
    assert at_once.sum == pytest.approx(one_by_one.sum)
    for q in (0.0, 0.5, 0.99, 1.0):
        assert at_once.quantile(q) == one_by_one.quantile(q)
