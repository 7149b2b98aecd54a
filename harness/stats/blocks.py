"""Block resampling: a run's samples in time order in, a block length and the indexes of
circular-block bootstrap resamples out.

Attempts close in time share the target's state (a queue, a cache, a fault window), so they
are not independent draws. The circular block bootstrap (Politis and Romano, 1992) resamples
runs of ``block_length`` consecutive samples, wrapping at the end so each sample is drawn
equally often. ``block_length`` is Politis and White's (2004) automatic choice for it, with
Patton, Politis and White's (2009) correction: the autocovariances up to the first lag after
which ``K`` in a row are insignificant, weighed by a flat-top window, give
``b = (2 G² / (4/3 g(0)²))^(1/3) n^(1/3)``. It is computed on the samples' ranks, so units and
outliers do not move it; independent samples get 1, which is the per-sample bootstrap. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from harness.stats.significance import average_ranks

#: Critical value of a "significant" autocorrelation, in units of sqrt(log10(n) / n).
_CRITICAL = 2.0


def _autocovariances(series: NDArray[np.float64], lags: int) -> NDArray[np.float64]:
    """Biased sample autocovariances at lags ``0..lags`` (by FFT: O(n log n))."""
    size = series.size
    centred = series - series.mean()
    spectrum = np.fft.rfft(centred, n=2 * size)
    return np.asarray(np.fft.irfft(spectrum * np.conj(spectrum))[: lags + 1] / size)


def block_length(values: Sequence[float] | NDArray[np.float64]) -> int:
    """The circular block bootstrap's block length for ``values`` in time order (>= 1)."""
    size = len(values)
    if size < 8:
        return 1
    series, _ = average_ranks(np.asarray(values, dtype=np.float64))
    in_a_row = max(5, math.ceil(math.sqrt(math.log10(size))))
    most_lags = math.ceil(math.sqrt(size)) + in_a_row
    cover = min(most_lags + in_a_row, size - 1)
    acov = _autocovariances(series, cover)
    if acov[0] <= 0.0:
        return 1  # every sample tied: nothing to resample in blocks
    small = np.abs(acov[1:] / acov[0]) < _CRITICAL * math.sqrt(math.log10(size) / size)
    first_quiet = next(
        (m for m in range(0, cover - in_a_row + 1) if small[m : m + in_a_row].all()),
        most_lags // 2,
    )
    window = min(2 * first_quiet, most_lags)
    lags = np.arange(1, window + 1, dtype=np.float64)
    weights = np.where(lags / max(window, 1) <= 0.5, 1.0, 2.0 * (1.0 - lags / max(window, 1)))
    spread = float(2.0 * np.sum(weights * lags * acov[1 : window + 1]))
    long_run = float(acov[0] + 2.0 * np.sum(weights * acov[1 : window + 1]))
    if long_run <= 0.0 or spread == 0.0:
        return 1
    ratio = 2.0 * spread**2 / (4.0 / 3.0 * long_run**2)
    optimal: float = (ratio * size) ** (1.0 / 3.0)
    longest = math.ceil(min(3.0 * math.sqrt(size), size / 3.0))
    return max(1, min(round(optimal), longest))


def block_picks(size: int, block: int, rows: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """``rows`` resamples of ``size`` indexes, each made of circular blocks of ``block``
    consecutive indexes (``block`` 1: independent draws, exactly ``rng.integers``'s)."""
    if block <= 1:
        return rng.integers(0, size, size=(rows, size))
    count = -(-size // block)
    starts = rng.integers(0, size, size=(rows, count))
    picks = (starts[:, :, None] + np.arange(block)) % size
    return picks.reshape(rows, count * block)[:, :size]
