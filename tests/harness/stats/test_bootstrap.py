"""Bootstrap intervals on synthetic samples: noise covers zero, a shift excludes it, the
per-sample interval matches scipy's, and time blocks keep the coverage that correlated
samples cost the per-sample one."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.signal
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats.bootstrap import Interval, Statistic, bootstrap_excess, statistic_for


def _lognormal(seed: int, n: int, median: float) -> list[float]:
    return list(np.random.default_rng(seed).lognormal(np.log(median), 0.3, n))


def ar1(rng: np.random.Generator, size: int, phi: float) -> np.ndarray:
    """A stationary AR(1) series of unit variance, ``z[t] = phi z[t-1] + noise`` (burnt in)."""
    noise = rng.standard_normal(size + 100) * math.sqrt(1.0 - phi * phi)
    return np.asarray(scipy.signal.lfilter([1.0], [1.0, -phi], noise)[100:])


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


samples = st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.integers(1, 20), st.floats(-100.0, 100.0), st.integers(0, 2**32 - 1))
def test_any_block_length_keeps_the_interval_in_bounds(
    current: list[float], baseline: list[float], block: int, offset: float, seed: int
) -> None:
    stat = statistic_for("avg", None)
    assert stat is not None

    def interval(shift: float) -> Interval:
        return bootstrap_excess(
            current,
            baseline,
            stat,
            np.random.default_rng(seed),
            offset=shift,
            resamples=200,
            block=block,
        )

    plain, shifted = interval(0.0), interval(offset)
    assert plain.blocks == (block, block) and 0.0 <= plain.p_value <= 1.0
    assert min(current) - max(baseline) - 1e-6 <= plain.low <= plain.high
    assert plain.high <= max(current) - min(baseline) + 1e-6
    assert shifted.low == pytest.approx(plain.low - offset, abs=1e-6)
    assert shifted.high == pytest.approx(plain.high - offset, abs=1e-6)


def test_count_has_no_statistic() -> None:
    assert statistic_for("count", None) is None


#: Resamples of the scipy cross-check: each endpoint's Monte Carlo error shrinks as 1/sqrt.
CROSS_RESAMPLES = 20_000


def _scipy_run(
    current: np.ndarray, baseline: np.ndarray, stat: Statistic, confidence: float
) -> Any:
    def difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = np.moveaxis(x, axis, -1)
        others = np.moveaxis(y, axis, -1)
        ours = stat(rows.reshape(-1, rows.shape[-1])).reshape(rows.shape[:-1])
        theirs = stat(others.reshape(-1, others.shape[-1])).reshape(others.shape[:-1])
        return np.asarray(ours - theirs)

    return scipy.stats.bootstrap(
        (current, baseline),
        difference,
        n_resamples=CROSS_RESAMPLES,
        vectorized=True,
        paired=False,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(99),
    )


def _endpoint_tolerance(distribution: np.ndarray, tail: float) -> float:
    """Six standard errors of the difference of two independent Monte Carlo estimates of the
    ``tail`` quantile, each from ``CROSS_RESAMPLES`` draws: ``sqrt(p (1 - p) / B) / f(q)``,
    the density ``f`` read off the bootstrap distribution itself (Siddiqui's estimate)."""
    spread = 0.02
    low, high = np.quantile(distribution, [tail - spread, tail + spread])
    per_estimate = np.sqrt(tail * (1 - tail) / CROSS_RESAMPLES) * (high - low) / (2 * spread)
    return float(6.0 * np.sqrt(2.0) * per_estimate)


def _agrees(ours: Interval, theirs: Any) -> bool:
    tail = (1.0 - 0.90) / 2.0
    distribution = theirs.bootstrap_distribution
    return bool(
        abs(ours.low - theirs.confidence_interval.low) <= _endpoint_tolerance(distribution, tail)
        and abs(ours.high - theirs.confidence_interval.high)
        <= _endpoint_tolerance(distribution, 1.0 - tail)
    )


@pytest.mark.parametrize(
    ("agg", "percentile", "sizes", "ties"),
    [
        ("avg", None, (250, 180), False),
        ("p", 50.0, (300, 260), False),
        ("p", 90.0, (400, 350), False),
        ("p", 99.0, (500, 450), False),
        ("avg", None, (220, 240), True),
    ],
)
def test_per_sample_interval_matches_scipy_bootstrap(
    agg: str, percentile: float | None, sizes: tuple[int, int], ties: bool
) -> None:
    rng = np.random.default_rng(sizes[0])
    current = rng.lognormal(np.log(60), 0.4, sizes[0])
    baseline = rng.lognormal(np.log(50), 0.4, sizes[1])
    if ties:
        current, baseline = np.round(current / 20), np.round(baseline / 20)
    stat = statistic_for(agg, percentile)
    assert stat is not None
    theirs = _scipy_run(current, baseline, stat, 0.90)

    def ours(confidence: float) -> Interval:
        return bootstrap_excess(
            list(current),
            list(baseline),
            stat,
            np.random.default_rng(5),
            confidence=confidence,
            resamples=CROSS_RESAMPLES,
            block=1,
        )

    assert _agrees(ours(0.90), theirs)
    # The check has teeth: a 95 % interval, or the difference taken the other way, is refused.
    assert not _agrees(ours(0.95), theirs)
    assert not _agrees(
        bootstrap_excess(
            list(baseline),
            list(current),
            stat,
            np.random.default_rng(5),
            resamples=CROSS_RESAMPLES,
            block=1,
        ),
        theirs,
    )


def _coverage(
    draw: Callable[[np.random.Generator], tuple[list[float], list[float]]],
    truth: float,
    block: int | None,
    pairs: int,
) -> float:
    stat = statistic_for("avg", None)
    assert stat is not None
    rng = np.random.default_rng(2024)
    covered = 0
    for _ in range(pairs):
        current, baseline = draw(rng)
        interval = bootstrap_excess(current, baseline, stat, rng, resamples=400, block=block)
        covered += interval.low <= truth <= interval.high
    return covered / pairs


def test_the_interval_covers_a_known_shift_at_its_confidence() -> None:
    def draw(rng: np.random.Generator) -> tuple[list[float], list[float]]:
        return list(rng.lognormal(np.log(60), 0.4, 150)), list(rng.lognormal(np.log(50), 0.4, 150))

    truth = 10.0 * float(np.exp(0.4**2 / 2))  # difference of the lognormal means
    coverage = _coverage(draw, truth, None, 200)
    assert 0.83 <= coverage <= 0.96, coverage  # 90 % nominal; 200 pairs: +-2 % each


def test_blocks_keep_the_coverage_correlated_samples_cost_the_per_sample_interval() -> None:
    def draw(rng: np.random.Generator) -> tuple[list[float], list[float]]:
        return (
            list(50.0 * np.exp(0.3 * ar1(rng, 400, 0.6))),
            list(50.0 * np.exp(0.3 * ar1(rng, 400, 0.6))),
        )

    blocked = _coverage(draw, 0.0, None, 150)
    per_sample = _coverage(draw, 0.0, 1, 150)
    assert blocked >= 0.80, blocked
    assert per_sample <= 0.72, per_sample


def test_independent_samples_get_the_per_sample_interval_itself() -> None:
    stat = statistic_for("p", 90.0)
    assert stat is not None
    cur, base = _lognormal(1, 300, 60), _lognormal(2, 300, 50)
    auto = bootstrap_excess(cur, base, stat, np.random.default_rng(4))
    plain = bootstrap_excess(cur, base, stat, np.random.default_rng(4), block=1)
    assert auto == plain and auto.blocks == (1, 1) and auto.method == "per-sample bootstrap"


def test_a_burst_widens_the_interval_and_says_so() -> None:
    stat = statistic_for("rate", None)
    assert stat is not None
    spread = [1.0 if i % 5 == 0 else 0.0 for i in range(300)]
    burst = sorted(spread)
    baseline = [1.0 if i % 100 == 0 else 0.0 for i in range(300)]
    wide = bootstrap_excess(burst, baseline, stat, np.random.default_rng(0), confidence=0.95)
    narrow = bootstrap_excess(burst, baseline, stat, np.random.default_rng(0), block=1)
    assert wide.estimate == pytest.approx(narrow.estimate)
    assert wide.blocks[0] > 20 and "block bootstrap: blocks of" in wide.method
    assert wide.high - wide.low > 3 * (narrow.high - narrow.low)
    assert wide.low < 0 < narrow.low
