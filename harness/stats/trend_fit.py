"""Trend tests on a run's windows: window times and per-window values in; a slope per hour with
a confidence interval, a periodic-burst test and the start of a sustained rise out.

- ``slope_interval``: the Theil-Sen slope (the median of the slopes between every two
  windows; one slow window cannot tilt it) or, with ``robust=False``, the least-squares slope
  (for error rates, mostly 0, where the median of pairwise slopes would stay 0 long after a
  rise began). Its interval is a residual bootstrap widened for serial correlation: the
  residuals around the fitted line (scaled by ``sqrt(n / (n - 2))`` for the two fitted
  parameters) are resampled and added back to the line, the slope refitted, and the
  deviations of those slopes from the estimate are stretched by ``sqrt((n - 2) / (n_eff -
  2))``, where ``n_eff = n (1 - r1) / (1 + r1)`` is the effective number of windows
  (``r1``: the residuals' lag-1 autocorrelation, plus its small-sample bias ``(1 + 4 r1) /
  n``; Santer et al., 2000). A slow stretch spans several windows, and neighbours that move
  together carry less evidence than independent ones; with ``n_eff`` of 3 or less the
  interval is unbounded. Measured on flat series of 500 ms x (1 + 0.1 AR(1) noise), 300 each
  at the default 1000 resamples, share whose 95 % interval lay wholly above 0 (nominal 2.5 %;
  one-sided 2.5 % is what a rising trend needs)::

      phi   n 30    n 60    n 120
      0     3.7 %   2.0 %   4.7 %
      0.5   5.3 %   4.0 %   4.3 %
      0.8   9.3 %   6.3 %   4.3 %

  A circular block bootstrap of the residuals (the method of ``harness.stats.bootstrap``),
  tried first, held at phi 0 (5 / 2.5 / 4.5 %, 200 each) but not with correlation: 16 / 9.5 /
  8 % at phi 0.5 and 27 / 12.5 / 7 % at 0.8; 30 to 120 windows hold too few blocks.
  ``tests/harness/stats/test_trend_fit.py`` repeats a small version.
- ``periodic_bursts``: the autocorrelation of the detrended, prewhitened series (each value
  less ``phi`` times the one before, ``phi`` the lag-1 autocorrelation clipped to [0, 0.95])
  at lags from 2 windows to a third of the run (at least 3 cycles). The period is the lag
  where it peaks (to the nearest window); its p-value is a permutation test: the same peak
  over ``permutations`` shuffles of the windows, which keep every value and destroy any
  period. Autocorrelation rather than a periodogram: a short burst every ``k`` windows spreads
  a periodogram's power over many harmonics of equal height (the largest stands out little,
  and may be a harmonic), while the autocorrelation at lag ``k`` gathers it (a burst of 1
  window in 10, 60 windows: periodogram p = 0.015, reading 150 s; autocorrelation p = 0.001
  at 600 s). Prewhitened because short-range correlation is no period, and shuffles destroy
  it too: without it, AR(1) noise at 0.5 was called periodic (p < 0.01) in 8.7 % of
  60-window series and 58 % of 240-window ones; with it, 0 / 1.0 / 0 % at 30 / 60 / 240
  windows, and iid noise 0.7 / 0.7 / 0.3 % (300 series each). The cost: a smooth, slow
  oscillation is mostly carried from one window to the next and is hard to tell from a slow
  wander; sharp bursts keep their power.
- ``sustained_rise``: the first window from which every later stretch of ``m`` windows sits
  significantly above the first ``m`` (one-sided, Mann-Whitney at ``alpha``).

Pure numpy; the caller passes a seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from harness.stats.significance import mann_whitney

CONFIDENCE = 0.95
RESAMPLES = 1000
PERMUTATIONS = 999
#: Upper bound on the cells (resamples x pairs) held at once, to bound memory.
_CHUNK_CELLS = 2_000_000
#: Fewest windows a slope or a period is fitted on.
MIN_WINDOWS = 10

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Slope:
    """A slope per hour with its interval; ``level`` is the series' median (the scale a
    slope is judged against), ``effective_windows`` the windows' worth of independent
    evidence the interval was widened to."""

    per_hour: float
    low: float
    high: float
    confidence: float
    level: float
    windows: int
    effective_windows: float
    method: str


def effective_windows(residuals: Floats) -> float:
    """``n (1 - r1) / (1 + r1)`` with ``r1`` the bias-corrected lag-1 autocorrelation of
    ``residuals``, clipped to [0, 0.95] (see the module docstring)."""
    n = residuals.size
    centred = residuals - residuals.mean()
    spread = float(centred @ centred)
    r1 = float(centred[1:] @ centred[:-1]) / spread if spread > 0 else 0.0
    r1 = min(max(r1 + (1.0 + 4.0 * max(r1, 0.0)) / n, 0.0), 0.95)
    return n * (1.0 - r1) / (1.0 + r1)


def _theil_sen(x: Floats, rows: Floats) -> Floats:
    """Theil-Sen slope of every row of ``rows`` against ``x``."""
    first, second = np.triu_indices(x.size, 1)
    dx = x[second] - x[first]
    keep = dx > 0
    first, second, dx = first[keep], second[keep], dx[keep]
    chunk = max(1, _CHUNK_CELLS // max(dx.size, 1))
    out = [
        np.median((part[:, second] - part[:, first]) / dx, axis=1)
        for part in (rows[i : i + chunk] for i in range(0, rows.shape[0], chunk))
    ]
    return np.concatenate(out)


def _least_squares(x: Floats, rows: Floats) -> Floats:
    centred = x - x.mean()
    spread = float(centred @ centred)
    return np.asarray((rows - rows.mean(axis=1, keepdims=True)) @ centred / spread)


def slope_interval(
    times_h: Sequence[float],
    values: Sequence[float],
    rng: np.random.Generator,
    *,
    robust: bool = True,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
) -> Slope:
    """The slope of ``values`` per hour of ``times_h`` and its bootstrap interval (see the
    module docstring); ``ValueError`` with fewer than ``MIN_WINDOWS`` points."""
    x = np.asarray(times_h, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.size != y.size or x.size < MIN_WINDOWS:
        raise ValueError(f"a slope needs at least {MIN_WINDOWS} windows with a value")
    fit = _theil_sen if robust else _least_squares
    n = x.size
    slope = float(fit(x, y[None, :])[0])
    intercept = float(np.median(y - slope * x) if robust else np.mean(y - slope * x))
    line = intercept + slope * x
    residuals = (y - line) * np.sqrt(n / (n - 2))
    effective = effective_windows(residuals)
    stretch = np.sqrt((n - 2) / (effective - 2)) if effective > 3 else np.inf
    draws: list[Floats] = []
    per_chunk = max(1, _CHUNK_CELLS // (n * 8))
    for done in range(0, resamples, per_chunk):
        picks = rng.integers(0, n, size=(min(per_chunk, resamples - done), n))
        draws.append(fit(x, line[None, :] + residuals[picks]) - slope)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.concatenate(draws), [tail, 1.0 - tail])
    return Slope(
        per_hour=slope,
        low=slope + float(stretch * low) if np.isfinite(stretch) else -np.inf,
        high=slope + float(stretch * high) if np.isfinite(stretch) else np.inf,
        confidence=confidence,
        level=float(np.median(y)),
        windows=int(n),
        effective_windows=effective,
        method="Theil-Sen" if robust else "least squares",
    )


@dataclass(frozen=True, slots=True)
class Periodicity:
    """The strongest period of a series and whether it stands out of shuffled windows."""

    period_s: float | None
    low_s: float | None
    high_s: float | None
    #: The autocorrelation at that period (0 without variation).
    share: float
    p_value: float


def _autocorrelations(rows: Floats, most_lag: int) -> Floats:
    """Biased autocorrelations at lags ``0..most_lag`` of every row (by FFT)."""
    size = rows.shape[1]
    centred = rows - rows.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=2 * size, axis=1)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), axis=1)[:, : most_lag + 1]
    zero = acov[:, :1]
    return np.divide(acov, zero, out=np.zeros_like(acov), where=zero > 0)


def periodic_bursts(
    values: Sequence[float],
    width_s: float,
    rng: np.random.Generator,
    permutations: int = PERMUTATIONS,
) -> Periodicity:
    """The strongest period of ``values`` (one per window of ``width_s``, in time order, no
    gaps) and its permutation p-value; ``ValueError`` with fewer than ``MIN_WINDOWS``."""
    y = np.asarray(values, dtype=np.float64)
    n = y.size
    if n < MIN_WINDOWS:
        raise ValueError(f"a period needs at least {MIN_WINDOWS} windows")
    x = np.arange(n, dtype=np.float64)
    slope = float(_least_squares(x, y[None, :])[0])
    detrended = y - y.mean() - slope * (x - x.mean())
    # Prewhitened: short-range correlation (a slow stretch spans several windows) is no period,
    # and shuffles would destroy it too.
    carried = float(np.clip(_autocorrelations(detrended[None, :], 1)[0, 1], 0.0, 0.95))
    residuals = detrended[1:] - carried * detrended[:-1]
    most_lag = n // 3
    observed = _autocorrelations(residuals[None, :], most_lag)[0, 2:]
    if not np.any(observed > 0):
        return Periodicity(None, None, None, 0.0, 1.0)
    lag = int(np.argmax(observed)) + 2
    peak = float(observed[lag - 2])
    shuffled = rng.permuted(np.tile(residuals, (permutations, 1)), axis=1)
    null = _autocorrelations(shuffled, most_lag)[:, 2:].max(axis=1)
    p_value = float((1 + np.count_nonzero(null >= peak)) / (permutations + 1))
    return Periodicity(
        period_s=lag * width_s,
        low_s=(lag - 0.5) * width_s,
        high_s=(lag + 0.5) * width_s,
        share=peak,
        p_value=p_value,
    )


def sustained_rise(values: Sequence[float], alpha: float) -> int | None:
    """Index of the first value from which every stretch of ``m = max(6, n // 10)`` values is
    significantly higher than the first ``m`` (None: no such point, or fewer than ``3 m``)."""
    n = len(values)
    m = max(6, n // 10)
    if n < 3 * m:
        return None
    baseline = list(values[:m])
    above = [
        (test := mann_whitney(values[k : k + m], baseline)).effect > 0.5
        and test.p_value < 2 * alpha
        for k in range(m, n - m + 1)
    ]
    since: int | None = None
    for offset in range(len(above) - 1, -1, -1):
        if not above[offset]:
            break
        since = m + offset
    return since
