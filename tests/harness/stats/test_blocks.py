"""Block resampling: series in time order in, block lengths that follow their autocorrelation
and circular-block indexes out."""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats.blocks import block_length, block_picks


def ar1(rng: np.random.Generator, size: int, phi: float) -> np.ndarray:
    """A stationary AR(1) series of unit variance, ``z[t] = phi z[t-1] + noise`` (burnt in)."""
    noise = rng.standard_normal(size + 100) * math.sqrt(1.0 - phi * phi)
    return np.asarray(scipy.signal.lfilter([1.0], [1.0, -phi], noise)[100:])


def test_independent_samples_get_blocks_of_one() -> None:
    lengths = [block_length(list(np.random.default_rng(s).lognormal(0, 1, 400))) for s in range(40)]
    assert sum(length == 1 for length in lengths) >= 36


def test_blocks_grow_with_the_correlation() -> None:
    def median(phi: float) -> float:
        rng = np.random.default_rng(7)
        return float(np.median([block_length(list(ar1(rng, 1000, phi))) for _ in range(15)]))

    weak, medium, strong = median(0.3), median(0.6), median(0.9)
    assert 2 <= weak < medium < strong
    assert strong >= 20


def test_a_burst_gets_long_blocks_and_short_series_get_one() -> None:
    burst = [0.0] * 240 + [1.0] * 60
    assert block_length(burst) >= 20
    assert block_length([1.0, 5.0, 2.0, 8.0, 3.0]) == 1
    assert block_length([4.0] * 100) == 1


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.95))
def test_the_length_depends_on_ranks_only(seed: int, phi: float) -> None:
    series = ar1(np.random.default_rng(seed), 300, phi)
    length = block_length(list(series))
    assert 1 <= length <= math.ceil(3 * math.sqrt(300))
    assert block_length(list(np.exp(series) * 1000.0)) == length
    assert block_length(list(series * 0.001 + 50.0)) == length


def test_blocks_of_one_are_plain_independent_draws() -> None:
    picks = block_picks(50, 1, 7, np.random.default_rng(3))
    assert np.array_equal(picks, np.random.default_rng(3).integers(0, 50, size=(7, 50)))


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 200), st.integers(1, 40), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_picks_are_circular_runs_of_the_block(size: int, block: int, rows: int, seed: int) -> None:
    picks = block_picks(size, block, rows, np.random.default_rng(seed))
    assert picks.shape == (rows, size)
    assert picks.min() >= 0 and picks.max() < size
    steps = (np.diff(picks, axis=1) % size)[:, : (size - 1) // block * block]
    inside = np.ones(steps.shape[1], dtype=bool)
    inside[block - 1 :: block] = False  # a new block may start anywhere
    assert (steps[:, inside] == 1 % size).all()


def test_circular_blocks_draw_every_sample_equally_often() -> None:
    picks = block_picks(100, 10, 4000, np.random.default_rng(11))
    counts = np.bincount(picks.ravel(), minlength=100)
    # 4000 rows x 100 picks: 4000 a sample, each row drawing blocks of 10 at once.
    assert np.abs(counts - 4000).max() < 6 * math.sqrt(4000 * 10)
    assert counts[0] > 0.9 * 4000 and counts[-1] > 0.9 * 4000  # the ends are not starved
