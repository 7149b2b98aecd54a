from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from harness.report import series


def test_bins_are_one_second_until_the_run_gets_long() -> None:
    assert series.bin_width_s(10.0) == 1.0
    assert series.bin_width_s(3600.0) == 12.0
    assert 3600.0 / series.bin_width_s(3600.0) <= series.MAX_BINS


def test_binned_quantiles_per_bin() -> None:
    binned = series.binned_quantiles(
        [0.1, 0.2, 0.9, 2.5], [1.0, 3.0, 5.0, 7.0], 1.0, (("p50", 0.5), ("max", 1.0))
    )
    assert list(binned.starts_s) == [0.0, 2.0]
    assert list(binned.values["p50"]) == [3.0, 7.0]
    assert list(binned.values["max"]) == [5.0, 7.0]


def test_binned_counts_fill_empty_bins_with_zero() -> None:
    binned = series.binned_counts([0.5, 0.7, 3.2], ["ok", "http_429", "ok"], 1.0)
    assert list(binned.starts_s) == [0.0, 1.0, 2.0, 3.0]
    assert list(binned.values["ok"]) == [1, 0, 0, 1]
    assert list(binned.values["http_429"]) == [1, 0, 0, 0]


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=2000))
def test_cdf_points_are_monotone_bounded_and_end_at_one(values: list[float]) -> None:
    xs, ys = series.cdf_points(values, max_points=100)
    assert len(xs) <= 100
    assert np.all(np.diff(xs) >= 0) and np.all(np.diff(ys) > 0)
    assert ys[-1] == 1.0 and xs[-1] == max(values)
