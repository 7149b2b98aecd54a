"""The leak verdict: growth in bytes per hour with an interval that holds the true slope; a
flat series is stable, too few readings unknown; ``watch.jsonl`` lines summarised."""

from __future__ import annotations

import numpy as np
import pytest

from harness.watch.leak import leak_verdict, t_quantile_975, watch_summary


def _series(slope_per_hour: float, seed: int, points: int = 120, noise: float = 2e6):
    rng = np.random.default_rng(seed)
    times_s = np.arange(points) * 30.0  # an hour at one reading per 30 s
    values = 300e6 + slope_per_hour * times_s / 3600.0 + rng.normal(0.0, noise, points)
    return times_s.tolist(), values.tolist()


def test_a_growing_series_is_growing_and_its_interval_holds_the_slope() -> None:
    verdict = leak_verdict(*_series(50e6, seed=1))
    low, high = verdict["ci95_bytes_per_hour"]
    assert verdict["verdict"] == "growing"
    assert low < 50e6 < high
    assert verdict["bytes_per_hour"] == pytest.approx(50e6, rel=0.05)


def test_a_heap_that_fills_then_holds_has_settled_and_a_leak_has_not() -> None:
    """A warm-up of 20 minutes (a cache filling to its bound), then flat: growing over the
    hour, stable over its second half. A steady leak grows over both."""
    times_s, values = _series(0.0, seed=3)
    warm = [v + 40e6 * min(t, 1200.0) / 1200.0 for t, v in zip(times_s, values, strict=True)]
    filled = leak_verdict(times_s, warm)
    assert filled["verdict"] == "growing" and filled["settled"] is True
    late = filled["second_half"]
    assert late["verdict"] == "stable" and late["span_s"] == pytest.approx(
        1770.0
    )  # 1,800 s to 3,570 s
    assert late["ci95_bytes_per_hour"][0] < 0 < late["ci95_bytes_per_hour"][1]
    leaking = leak_verdict(*_series(50e6, seed=3))
    assert leaking["settled"] is False and leaking["second_half"]["verdict"] == "growing"
    flat = leak_verdict(*_series(0.0, seed=4))
    assert flat["verdict"] == "stable" and "settled" not in flat


def test_flat_series_are_mostly_stable() -> None:
    verdicts = [leak_verdict(*_series(0.0, seed=seed))["verdict"] for seed in range(200)]
    # A 95 % interval holds 0 in about 95 % of flat series.
    assert verdicts.count("stable") >= 180
    assert set(verdicts) <= {"stable", "growing", "shrinking"}


def test_a_random_walk_widens_the_interval() -> None:
    """Memory that wanders (correlated readings) widens the interval: a walk with no drift is
    called stable in most seeds (the textbook interval calls half of them a trend)."""
    alarms = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        values = 300e6 + np.cumsum(rng.normal(0.0, 1e6, 120))
        verdict = leak_verdict((np.arange(120) * 30.0).tolist(), values.tolist())
        alarms += verdict["verdict"] != "stable"
    assert alarms <= 45


def test_too_few_readings_or_too_short_a_span_is_unknown() -> None:
    times, values = _series(50e6, seed=2, points=5)
    assert leak_verdict(times, values)["verdict"] == "unknown"
    short = leak_verdict([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1.0] * 9)
    assert short["verdict"] == "unknown"
    assert short["bytes_per_hour"] is None


@pytest.mark.parametrize(
    ("dof", "expected"), [(1, 12.706205), (3, 3.182446), (10, 2.228139), (60, 2.000298)]
)
def test_t_quantile_matches_the_tables(dof: int, expected: float) -> None:
    assert t_quantile_975(dof) == pytest.approx(expected, rel=1e-2 if dof < 10 else 1e-3)


def test_watch_lines_are_summarised_per_url_with_errors_and_gone_series() -> None:
    times, values = _series(80e6, seed=3)
    lines: list[dict[str, object]] = [
        {
            "t_s": t,
            "url": "http://127.0.0.1:1/metrics",
            "series": "process_resident_memory_bytes",
            "name": "process_resident_memory_bytes",
            "labels": {},
            "value": v,
        }
        for t, v in zip(times, values, strict=True)
    ]
    lines.append({"t_s": 3600.0, "url": "http://127.0.0.1:1/metrics", "error": "no answer"})
    lines.append({"t_s": 3630.0, "url": "http://127.0.0.1:1/metrics", "series": "x", "gone": True})
    summary = watch_summary(lines)
    entry = summary["urls"]["http://127.0.0.1:1/metrics"]
    assert entry["scrapes"] == 122
    assert entry["failed_scrapes"] == 1
    assert entry["gone"] == ["x"]
    assert entry["leak"]["process_resident_memory_bytes"]["verdict"] == "growing"
