"""The comparison: runs in (the first is the reference), side-by-side figures and differences
with confidence intervals and significance out.

Each figure is read from the runs' summaries. When both runs' sample sources
(``harness.stats.sources``: records in memory, or the files of a run too large for memory)
have per-request or per-attempt samples for it, the difference (other - reference) gets a
95 % bootstrap confidence interval and a two-sided bootstrap p-value; it is *significant*
when that p-value is below ``ALPHA``. The bootstrap resamples each run's samples in
time-contiguous blocks, whose lengths each ``Difference`` keeps (``harness.stats.bootstrap``
says why). Latency figures also carry a Mann-Whitney p-value (does one run's whole
distribution sit higher?). Runs with fault windows (summary ``fault_windows``) add one row per
window: the time to recover after it, side by side with the difference (one figure per run: no
interval). Pure but for the sample sources' reads; the RNG is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.stats.bootstrap import bootstrap_excess, statistic_for
from harness.stats.run_data import RunData
from harness.stats.significance import mann_whitney
from harness.stats.sources import source_of

ALPHA = 0.01
CONFIDENCE = 0.95
RESAMPLES = 1000
#: Key prefix of the time-to-recover figures (``recovery_s_1`` for the first window).
RECOVERY_KEY = "recovery_s_"


def _value(key: str) -> Callable[[Mapping[str, Any]], float | None]:
    def read(summary: Mapping[str, Any]) -> float | None:
        raw = summary.get(key)
        return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None

    return read


def _stat(key: str, stat: str) -> Callable[[Mapping[str, Any]], float | None]:
    def read(summary: Mapping[str, Any]) -> float | None:
        stats = summary.get(key)
        return _value(stat)(stats) if isinstance(stats, Mapping) else None

    return read


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    unit: str | None
    read: Callable[[Mapping[str, Any]], float | None]
    #: The metric whose samples (``harness.stats.sources``) resample this figure, if any.
    samples: str | None = None
    agg: str = "avg"
    percentile: float | None = None
    rank_test: bool = False


FIGURES: tuple[Figure, ...] = (
    Figure(
        "cost_per_1k_requests_usd",
        "cost per 1k requests",
        "usd",
        _value("cost_per_1k_requests_usd"),
        "cost_per_1k_requests_usd",
    ),
    Figure("ttft_p50_ms", "TTFT p50", "ms", _stat("ttft_ms", "p50"), "ttft_ms", "p", 50.0, True),
    Figure("ttft_p99_ms", "TTFT p99", "ms", _stat("ttft_ms", "p99"), "ttft_ms", "p", 99.0, True),
    Figure("e2e_p50_ms", "E2E p50", "ms", _stat("e2e_ms", "p50"), "e2e_ms", "p", 50.0, True),
    Figure("e2e_p99_ms", "E2E p99", "ms", _stat("e2e_ms", "p99"), "e2e_ms", "p", 99.0, True),
    Figure("error_rate", "error rate", "ratio", _value("error_rate"), "error_rate"),
    Figure(
        "retry_amplification",
        "retry amplification",
        None,
        _value("retry_amplification"),
        "retry_amplification",
    ),
    Figure("cache_hit_rate", "cache hit rate", "ratio", _value("cache_hit_rate"), "cache_hit_rate"),
    Figure("goodput_rps", "goodput", "rps", _value("goodput_rps"), "goodput_rps"),
)


def _windows(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = summary.get("fault_windows")
    return [w for w in raw if isinstance(w, Mapping)] if isinstance(raw, list) else []


def _recovery(index: int) -> Callable[[Mapping[str, Any]], float | None]:
    def read(summary: Mapping[str, Any]) -> float | None:
        windows = _windows(summary)
        return _value("recovery_s")(windows[index]) if index < len(windows) else None

    return read


def window_figures(runs: Sequence[RunData]) -> tuple[Figure, ...]:
    """One time-to-recover figure per fault window (the n-th window of each run)."""
    per_run = [_windows(run.summary) for run in runs]
    figures = []
    for index in range(max((len(w) for w in per_run), default=0)):
        window = next(w[index] for w in per_run if index < len(w))
        start, end = window.get("start_s"), window.get("end_s")
        span = (
            f"{start:g}-{end:g} s"
            if isinstance(start, int | float) and isinstance(end, int | float)
            else "open-ended"
        )
        figures.append(
            Figure(
                f"{RECOVERY_KEY}{index + 1}",
                f"time to recover after {window.get('label', 'fault')} ({span})",
                "s",
                _recovery(index),
            )
        )
    return tuple(figures)


@dataclass(frozen=True, slots=True)
class Difference:
    key: str
    label: str
    unit: str | None
    reference: float | None
    other: float | None
    difference: float | None
    relative: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    rank_p_value: float | None = None
    #: None when no test was possible (no per-sample figures).
    significant: bool | None = None
    #: Bootstrap block lengths in samples, of the reference and of this run (1: per sample).
    blocks: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    runs: tuple[str, ...]
    #: The rows, in order: ``FIGURES`` then one per fault window.
    figures: tuple[Figure, ...]
    #: Per figure key, the value of each run (in ``runs`` order).
    values: Mapping[str, tuple[float | None, ...]]
    #: Per run after the first, its differences from the first.
    differences: Mapping[str, tuple[Difference, ...]]


def _difference(
    figure: Figure, reference: RunData, other: RunData, rng: np.random.Generator
) -> Difference:
    a, b = figure.read(reference.summary), figure.read(other.summary)
    diff = None if a is None or b is None else b - a
    relative = None if diff is None or not a else diff / a
    base = Difference(figure.key, figure.label, figure.unit, a, b, diff, relative)
    if figure.samples is None or diff is None:
        return base
    sa = source_of(reference).samples(figure.samples, ())
    sb = source_of(other).samples(figure.samples, ())
    statistic = statistic_for(figure.agg, figure.percentile)
    if sa is None or sb is None or len(sa.values) == 0 or len(sb.values) == 0 or statistic is None:
        return base
    interval = bootstrap_excess(
        sb.values, sa.values, statistic, rng, confidence=CONFIDENCE, resamples=RESAMPLES
    )
    rank = mann_whitney(sb.values, sa.values).p_value if figure.rank_test else None
    return Difference(
        figure.key,
        figure.label,
        figure.unit,
        a,
        b,
        diff,
        relative,
        interval.low,
        interval.high,
        interval.p_value,
        rank,
        interval.p_value < ALPHA,
        (interval.blocks[1], interval.blocks[0]),
    )


def compare_runs(runs: Sequence[RunData], rng: np.random.Generator) -> Comparison:
    """Side-by-side figures of ``runs`` and each run's differences from the first. Each row
    resamples with its own stream spawned from ``rng``, so its interval does not depend on
    which other rows had samples (a run without a ledger has none for retry amplification)."""
    figures = (*FIGURES, *window_figures(runs))
    values = {f.key: tuple(f.read(run.summary) for run in runs) for f in figures}
    differences = {
        run.label: tuple(
            _difference(f, runs[0], run, stream)
            for f, stream in zip(figures, rng.spawn(len(figures)), strict=True)
        )
        for run in runs[1:]
    }
    return Comparison(tuple(run.label for run in runs), figures, values, differences)
