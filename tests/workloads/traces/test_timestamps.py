"""Trace timestamps parse to exact integer nanoseconds, checked against numpy's datetime64."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workloads.traces.timestamps import iso_ns, number_ns, time_ns


@given(
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=0, max_value=10**9 - 1),
    st.sampled_from([" ", "T"]),
)
def test_iso_text_with_any_fraction_matches_numpy(
    moment: dt.datetime, digits: int, nanos: int, separator: str
) -> None:
    base = moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    fraction = str(nanos).rjust(9, "0")[:digits]
    text = f"{base}.{fraction}" if digits else base
    expected = int(np.datetime64(text.replace(" ", "T"), "ns").astype(np.int64))
    assert iso_ns(text) == expected
    assert iso_ns(text + "Z") == expected
    assert iso_ns(text + "+01:30") == expected - 5400 * 10**9


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=0, max_value=10**6 - 1))
def test_decimal_seconds_keep_every_digit(whole: int, micros: int) -> None:
    text = f"{whole}.{micros:06d}"
    assert number_ns(text, "s") == whole * 10**9 + micros * 1000
    assert number_ns(whole, "ms") == whole * 10**6


def test_rounding_beyond_nanoseconds_and_exponents() -> None:
    assert number_ns("1.0000000015", "s") == 1_000_000_002
    assert number_ns("1.5e3", "ms") == 1_500_000_000
    assert (
        time_ns("2023-11-16 18:17:03.9799600", "iso") - time_ns("2023-11-16 18:17:03", "iso")
        == 979_960_000
    )


@pytest.mark.parametrize("text", ["", "x", "1.2.3", "2023-13-01 00:00:00", "2023-01-01 25:00:00"])
def test_nonsense_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        time_ns(text, "iso" if "-" in text else "s")
