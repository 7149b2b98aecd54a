"""Bootstrap intervals on synthetic samples: noise covers zero, a shift excludes it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from harness.stats.bootstrap import bootstrap_excess, statistic_for

samples = st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=40)


def _lognormal(seed: int, n: int, median: float) -> list[float]:
    return list(np.random.default_rng(seed).lognormal(np.log(median), 0.3, n))


def test_same_distribution_interval_covers_zero() -> None:
    stat = statistic_for("p", 99.0)
    assert stat is not None
    interval = bootstrap_excess(
        _lognormal(1, 400, 50), _lognormal(2, 400, 50), stat, np.random.default_rng(0)
    )
    assert interval.low < 0 < interval.high


def test_shifted_distribution_interval_excludes_zero() -> None:
    stat = statistic_for("med", None)
    assert stat is not None
    interval = bootstrap_excess(
        _lognormal(1, 400, 80), _lognormal(2, 400, 50), stat, np.random.default_rng(0)
    )
    assert interval.low > 0 and interval.low <= interval.estimate <= interval.high


def test_factor_and_offset_move_the_interval() -> None:
    stat = statistic_for("avg", None)
    assert stat is not None
    cur, base = _lognormal(1, 200, 60), _lognormal(2, 200, 50)
    plain = bootstrap_excess(cur, base, stat, np.random.default_rng(0))
    shifted = bootstrap_excess(cur, base, stat, np.random.default_rng(0), offset=25.0)
    assert shifted.estimate == pytest.approx(plain.estimate - 25.0)
    assert shifted.low == pytest.approx(plain.low - 25.0)


def test_same_rng_seed_same_interval() -> None:
    stat = statistic_for("p", 90.0)
    assert stat is not None
    a = bootstrap_excess(
        _lognormal(1, 300, 50), _lognormal(2, 300, 50), stat, np.random.default_rng(5)
    )
    b = bootstrap_excess(
        _lognormal(1, 300, 50), _lognormal(2, 300, 50), stat, np.random.default_rng(5)
    )
    assert a == b


def test_count_has_no_statistic() -> None:
    assert statistic_for("count", None) is None
