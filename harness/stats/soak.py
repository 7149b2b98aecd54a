"""Soak verdicts: a run's time slices (``harness.stats.timeslices``) and a seeded RNG in, the
``soak`` object of ``summary.json`` out: the windows, a trend per figure with its interval,
periodic error bursts, the first and last stretch compared, and one verdict.

A run shorter than ``MIN_SOAK_S`` (or with fewer than ``MIN_WINDOWS`` windows holding
``MIN_WINDOW_SAMPLES`` successful attempts) gets ``verdict = "too short"`` and a reason, and no
trend figure at all: never a slope made of too little. Otherwise (definitions in
docs/metrics.md):

- ``trends``: window p99 of TTFT and of E2E (Theil-Sen), and window error rate (least
  squares), each a slope per hour with a ``CONFIDENCE`` interval (``harness.stats.trend_fit``).
  A trend is ``rising`` when its whole interval lies above 0 *and* the rise over the run is
  material: at least ``MATERIAL_SHARE`` of the series' median for a latency, at least
  ``MATERIAL_ERROR_RISE`` for an error rate. ``falling`` mirrors it; else ``flat``.
- ``bursts``: the strongest period of the window error rates and its permutation p-value;
  ``periodic`` when below ``ALPHA`` and at least 3 windows had failures.
- ``first_last``: the first and last hour (the first and last quarter of a run under 2 hours)
  compared the way ``tokenstorm compare`` compares two runs: the bootstrap interval of the
  difference of p99 / error rate and its p-value, Mann-Whitney for latencies, ``ALPHA``.
- ``verdict``: ``degrading`` when any trend is ``rising``, else ``stable``; a degrading run's
  ``since_s`` is the start of the first window from which the rising latency (else error
  rate) stays significantly above the run's first windows (``trend_fit.sustained_rise``),
  None when the rise is too gradual to name one.

Each trend's interval lies wholly above 0 for 2 to 9.3 % of flat series (nominal 2.5 %; the
table in ``harness.stats.trend_fit``); its rise must also be material before a run that does
not change is called degrading, and ``tests/harness/stats/test_soak.py`` counts how often
flat runs of the mock's own latency draws are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from harness.contract.records import AttemptRecord
from harness.cost import PriceBook
from harness.stats.bootstrap import Interval, bootstrap_excess, statistic_for
from harness.stats.significance import mann_whitney
from harness.stats.timeslices import TimeSlicer, Window
from harness.stats.trend_fit import (
    CONFIDENCE,
    MIN_WINDOWS,
    Slope,
    periodic_bursts,
    slope_interval,
    sustained_rise,
)

#: Shortest run given a trend verdict, and fewest successful attempts a window p99 rests on.
MIN_SOAK_S = 1800.0
MIN_WINDOW_SAMPLES = 10
#: Significance level, as ``harness.compare`` uses (a test keeps the two equal).
ALPHA = 0.01
MATERIAL_SHARE = 0.10
MATERIAL_ERROR_RISE = 0.005
#: Length of the first and last stretch compared, and the most samples each keeps.
FIRST_LAST_S = 3600.0
MAX_COMPARED = 20_000
#: Seed of the verdicts' bootstrap, so a run always gets the same intervals.
SOAK_SEED = 0x50AC

VERDICT_TOO_SHORT = "too short"
VERDICT_STABLE = "stable"
VERDICT_DEGRADING = "degrading"

_LATENCIES = (("ttft_ms_p99", "ttft_p99_ms", "ttft_s"), ("e2e_ms_p99", "e2e_p99_ms", "e2e_s"))


def _direction(slope: Slope, span_h: float, material: float) -> str:
    if slope.low > 0 and slope.per_hour * span_h >= material:
        return "rising"
    if slope.high < 0 and -slope.per_hour * span_h >= material:
        return "falling"
    return "flat"


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _slope_dict(slope: Slope, direction: str) -> dict[str, Any]:
    """JSON-ready: an unbounded end of the interval (too few effective windows) is null."""
    return {
        "per_hour": slope.per_hour,
        "low": _finite(slope.low),
        "high": _finite(slope.high),
        "confidence": slope.confidence,
        "direction": direction,
        "level": slope.level,
        "windows": slope.windows,
        "effective_windows": slope.effective_windows,
        "method": slope.method,
    }


def _thinned(values: list[float]) -> list[float]:
    """At most ``MAX_COMPARED`` values, every k-th in time order (bounds the bootstrap)."""
    step = -(-len(values) // MAX_COMPARED)
    return values[::step] if step > 1 else values


def _difference(first: list[float], last: list[float], agg: str, rng: Any) -> dict[str, Any]:
    if not first or not last:
        return {"first": None, "last": None, "difference": None, "significant": None}
    statistic = statistic_for(agg, 99.0)
    assert statistic is not None
    a, b = _thinned(first), _thinned(last)
    interval: Interval = bootstrap_excess(b, a, statistic, rng, confidence=CONFIDENCE)
    scale = 1000.0 if agg == "p" else 1.0
    found = {
        "first": float(statistic(np.asarray(a)[None, :])[0]) * scale,
        "last": float(statistic(np.asarray(b)[None, :])[0]) * scale,
        "difference": interval.estimate * scale,
        "low": interval.low * scale,
        "high": interval.high * scale,
        "p_value": interval.p_value,
        "significant": interval.p_value < ALPHA,
    }
    if agg == "p":
        found["rank_p_value"] = mann_whitney(b, a).p_value
    return found


def _first_last(slicer: TimeSlicer, end_s: float, rng: Any) -> dict[str, Any]:
    span_s = FIRST_LAST_S if end_s >= 2 * FIRST_LAST_S else end_s / 4.0
    # Whole windows only: a stretch starts and ends on window edges.
    span_s = max(slicer.width_s, span_s // slicer.width_s * slicer.width_s)
    last_start_s = max(span_s, (end_s - span_s) // slicer.width_s * slicer.width_s)
    found: dict[str, Any] = {"span_s": span_s, "last_start_s": last_start_s}
    for key, sample, agg in (
        ("ttft_ms_p99", "ttft_s", "p"),
        ("e2e_ms_p99", "e2e_s", "p"),
        ("error_rate", "failed", "rate"),
    ):
        first = slicer.samples(sample, 0.0, span_s)
        last = slicer.samples(sample, last_start_s, float("inf"))
        found[key] = _difference(first, last, agg, rng)
    return found


def _bursts(windows: list[Window], width_s: float, rng: Any) -> dict[str, Any]:
    rates = [w.error_rate for w in windows]
    known = [r for r in rates if r is not None]
    mean = float(np.mean(known)) if known else 0.0
    series = [mean if r is None else r for r in rates]
    found = periodic_bursts(series, width_s, rng)
    with_failures = sum(1 for w in windows if w.failed)
    return {
        "period_s": found.period_s,
        "low_s": found.low_s,
        "high_s": found.high_s,
        "share": found.share,
        "p_value": found.p_value,
        "windows_with_failures": with_failures,
        "periodic": found.p_value < ALPHA and with_failures >= 3,
    }


def _minutes(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:.4g} min"


def _too_short(base: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        **base,
        "verdict": VERDICT_TOO_SHORT,
        "reason": f"too short for a trend verdict: {reason}",
    }


def soak_section(slicer: TimeSlicer, rng: np.random.Generator | None = None) -> dict[str, Any]:
    """The ``soak`` object of ``summary.json`` (see the module docstring)."""
    rng = np.random.default_rng(SOAK_SEED) if rng is None else rng
    windows = slicer.windows()
    base: dict[str, Any] = {
        "window_s": slicer.width_s,
        "min_duration_s": MIN_SOAK_S,
        "windows": [w.as_dict() for w in windows],
    }
    if slicer.duration_s < MIN_SOAK_S:
        return _too_short(
            base,
            f"the run lasted {_minutes(slicer.duration_s)}, a verdict needs {_minutes(MIN_SOAK_S)}",
        )
    dense = [w for w in windows if w.ok >= MIN_WINDOW_SAMPLES]
    if len(dense) < MIN_WINDOWS:
        return _too_short(
            base,
            f"{len(dense)} windows of {slicer.width_s:g} s hold at least "
            f"{MIN_WINDOW_SAMPLES} successful attempts, a verdict needs {MIN_WINDOWS}",
        )
    end_s = windows[-1].start_s + windows[-1].span_s
    span_h = end_s / 3600.0
    trends: dict[str, Any] = {}
    rising: list[list[float]] = []
    for key, field, _ in _LATENCIES:
        values = [float(getattr(w, field)) for w in dense]
        times_h = [(w.start_s + w.span_s / 2) / 3600.0 for w in dense]
        slope = slope_interval(times_h, values, rng)
        direction = _direction(slope, span_h, MATERIAL_SHARE * slope.level)
        trends[key] = _slope_dict(slope, direction)
        if direction == "rising":
            rising.append(values)
    sent = [w for w in windows if w.attempts]
    rates = [float(w.error_rate or 0.0) for w in sent]
    error_slope = slope_interval(
        [(w.start_s + w.span_s / 2) / 3600.0 for w in sent], rates, rng, robust=False
    )
    error_direction = _direction(error_slope, span_h, MATERIAL_ERROR_RISE)
    trends["error_rate"] = _slope_dict(error_slope, error_direction)
    degrading = bool(rising) or error_direction == "rising"
    since_s: float | None = None
    if degrading:
        series, times = (rising[0], dense) if rising else (rates, sent)
        index = sustained_rise(series, ALPHA)
        since_s = None if index is None else times[index].start_s
    return {
        **base,
        "verdict": VERDICT_DEGRADING if degrading else VERDICT_STABLE,
        "since_s": since_s,
        "trends": trends,
        "bursts": _bursts(windows, slicer.width_s, rng),
        "first_last": _first_last(slicer, end_s, rng),
    }


def soak_of_records(
    records: Iterable[AttemptRecord], duration_s: float, prices: PriceBook | None
) -> dict[str, Any]:
    """``soak_section`` of records read one at a time (an iterator is never held whole)."""
    return soak_section(TimeSlicer(duration_s, prices).add_all(records))
