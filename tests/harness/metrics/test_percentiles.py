from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from harness.metrics.percentiles import QUANTILES, STAT_KEYS, quantile, stats, stats_ms

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=200))
def test_percentiles_are_monotone_and_within_the_samples(values: list[float]) -> None:
    result = stats(values)
    figures = [result[name] for name, _ in QUANTILES]
    assert figures == sorted(figures)
    assert all(min(values) <= f <= result["max"] for f in figures)
    assert result["max"] == max(values)
    assert min(values) <= result["mean"] <= result["max"]
    assert result["count"] == len(values)


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1))
def test_stats_ms_scales_seconds_to_milliseconds(values_s: list[float]) -> None:
    result = stats_ms(values_s)
    assert math.isclose(result["max"], max(values_s) * 1000.0)


def test_empty_samples_give_nulls_and_a_zero_count() -> None:
    result = stats([])
    assert set(result) == set(STAT_KEYS)
    assert result["count"] == 0
    assert all(result[key] is None for key in STAT_KEYS if key != "count")


def test_non_finite_samples_are_ignored() -> None:
    result = stats([1.0, float("nan"), float("inf"), 3.0])
    assert result["count"] == 2
    assert result["max"] == 3.0


def test_linear_interpolation_between_ranks() -> None:
    # Four samples: the median lies halfway between the 2nd and 3rd, by definition.
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert quantile([], 0.5) is None
    assert stats([7.0])["p999"] == 7.0
