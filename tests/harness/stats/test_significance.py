"""The Mann-Whitney test on synthetic samples: shifts are found, equal ones are not."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
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


#: Samples with many ties (a few distinct values) or few ties (continuous values).
tied = st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5, 7.0]), min_size=1, max_size=60)
spread = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False),
    min_size=1,
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(tied, spread), st.one_of(tied, spread))
def test_p_value_matches_scipy_asymptotic_with_continuity(a: list[float], b: list[float]) -> None:
    ours = mann_whitney(a, b)
    theirs = scipy.stats.mannwhitneyu(
        a, b, alternative="two-sided", method="asymptotic", use_continuity=True
    )
    assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=1e-9, abs=1e-12)
    assert ours.u == pytest.approx(float(theirs.statistic))


def test_the_scipy_check_tells_continuity_apart() -> None:
    a, b = [1.0, 2.0, 2.0, 3.0, 5.0, 8.0], [2.0, 4.0, 6.0, 9.0, 9.0]
    without = scipy.stats.mannwhitneyu(
        a, b, alternative="two-sided", method="asymptotic", use_continuity=False
    )
    assert mann_whitney(a, b).p_value != pytest.approx(float(without.pvalue), rel=1e-3)
