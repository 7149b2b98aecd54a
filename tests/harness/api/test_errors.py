"""Retry headers on the wire: a wait written as seconds and milliseconds reads back; dates,
junk and the x-should-retry verdict."""

from __future__ import annotations

import email.utils

from hypothesis import given
from hypothesis import strategies as st

from harness.api.errors import retry_after_s, retry_headers, should_retry


@given(st.floats(0, 3600, allow_nan=False))
def test_a_wait_written_reads_back_to_the_millisecond(wait_s: float) -> None:
    headers = retry_headers(wait_s)
    assert int(headers["retry-after"]) >= wait_s
    read = retry_after_s(headers, now_wall_s=0.0)
    assert read is not None and abs(read - wait_s) <= 0.0005 + 1e-9


def test_seconds_dates_and_junk() -> None:
    assert retry_headers(1.2) == {"retry-after": "2", "retry-after-ms": "1200"}
    assert retry_after_s({"retry-after": "3"}, 0.0) == 3.0
    date = email.utils.formatdate(1_000_010.0, usegmt=True)
    assert retry_after_s({"retry-after": date}, 1_000_000.0) == 10.0
    assert retry_after_s({"retry-after": "soon"}, 0.0) is None
    assert retry_after_s({"retry-after-ms": "x", "retry-after": "1"}, 0.0) == 1.0
    assert retry_after_s({}, 0.0) is None


def test_should_retry_reads_true_false_or_nothing() -> None:
    assert should_retry({"x-should-retry": " TRUE "}) is True
    assert should_retry({"x-should-retry": "false"}) is False
    assert should_retry({"x-should-retry": "maybe"}) is None
    assert should_retry({}) is None
