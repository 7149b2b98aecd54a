"""Per-request cost samples from per-attempt columns: a request's attempts are added smallest
first, so the samples are the same floats in whatever order the attempts come (the ledger's,
the records', DuckDB's), and attempts of no sent request are left out."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats.columns import request_cost_samples

items = st.lists(
    st.tuples(st.integers(-1, 5), st.floats(0.0, 1.0, allow_nan=False)), min_size=0, max_size=40
)


@settings(max_examples=200, deadline=None)
@given(items, st.randoms(use_true_random=False))
def test_a_requests_cost_is_its_attempts_added_smallest_first(
    chosen: list[tuple[int, float]], shuffler: random.Random
) -> None:
    times = np.array([0.5, 0.1, 0.1, 0.3, 0.2, 0.0], np.float64)
    request = np.array([r for r, _ in chosen], np.int64)
    usd = np.array([u for _, u in chosen], np.float64)
    found = request_cost_samples(times, request, usd)
    expected = []
    for index, time_s in enumerate(times.tolist()):
        total = 0.0
        for value in sorted(u * 1000.0 for r, u in chosen if r == index):
            total += value
        expected.append((time_s, total))
    expected.sort()
    assert found.times_s.tolist() == [t for t, _ in expected]
    assert found.values.tolist() == [v for _, v in expected]
    order = list(range(len(chosen)))
    shuffler.shuffle(order)
    again = request_cost_samples(times, request[order], usd[order])
    assert np.array_equal(again.values, found.values)
    assert np.array_equal(again.times_s, found.times_s)


def test_the_order_of_three_attempts_would_matter_without_it() -> None:
    values = [0.1, 0.2, 0.3]  # (0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1
    assert (values[0] + values[1]) + values[2] != (values[2] + values[1]) + values[0]
    times = np.zeros(1, np.float64)
    forward = request_cost_samples(times, np.zeros(3, np.int64), np.array(values) / 1000.0)
    backward = request_cost_samples(times, np.zeros(3, np.int64), np.array(values[::-1]) / 1000.0)
    assert forward.values.tolist() == backward.values.tolist()
