"""The Mann-Whitney test on synthetic samples: shifts are found, equal ones are not."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats.significance import mann_whitney

samples = st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=40)


def _lognormal(seed: int, n: int, median: float) -> list[float]:
    return list(np.random.default_rng(seed).lognormal(np.log(median), 0.3, n))


def test_mann_whitney_separates_shifted_samples_and_not_equal_ones() -> None:
    assert mann_whitney(_lognormal(1, 300, 60), _lognormal(2, 300, 50)).p_value < 0.001
    assert mann_whitney(_lognormal(1, 300, 50), _lognormal(2, 300, 50)).p_value > 0.01


def test_mann_whitney_fully_separated() -> None:
    result = mann_whitney([10.0, 11.0, 12.0], [1.0, 2.0])
    assert result.u == 6.0 and result.effect == 1.0


@settings(max_examples=50)
@given(samples, samples)
def test_mann_whitney_is_symmetric(a: list[float], b: list[float]) -> None:
    ab, ba = mann_whitney(a, b), mann_whitney(b, a)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.effect == pytest.approx(1.0 - ba.effect)
    assert 0.0 <= ab.p_value <= 1.0
