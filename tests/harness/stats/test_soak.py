"""Soak verdicts: an hour of the mock's own latency draws on a virtual clock in; a run whose ITL
grows 1 % a minute (the mock's ``itl_growth_per_min``) is called degrading, the same run with
a flat ITL stable, and a short run gets no trend figure at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.compare.table import ALPHA as COMPARE_ALPHA
from harness.stats.soak import (
    ALPHA,
    MIN_SOAK_S,
    VERDICT_DEGRADING,
    VERDICT_STABLE,
    VERDICT_TOO_SHORT,
    soak_of_records,
    soak_section,
)
from harness.stats.timeslices import TimeSlicer
from tests.harness.stats.soak_records import attempt, mock_run


@pytest.fixture(scope="module")
def degrading() -> dict[str, object]:
    return soak_of_records(mock_run(0.01), 3600.0, None)


@pytest.fixture(scope="module")
def flat() -> dict[str, object]:
    return soak_of_records(mock_run(0.0), 3600.0, None)


def test_an_itl_growing_one_percent_a_minute_is_caught(degrading: dict[str, object]) -> None:
    assert degrading["verdict"] == VERDICT_DEGRADING
    trends = degrading["trends"]
    assert isinstance(trends, dict)
    e2e, ttft = trends["e2e_ms_p99"], trends["ttft_ms_p99"]
    assert e2e["direction"] == "rising" and e2e["low"] > 0
    # 47 gaps of 12 ms growing 1.01 ** minutes: 564 ms at the start, 1025 ms after the hour.
    assert 400.0 < e2e["per_hour"] < 540.0
    assert ttft["direction"] == "flat"  # the knob leaves TTFT alone
    since = degrading["since_s"]
    assert isinstance(since, float) and 0.0 < since < 30 * 60.0
    first_last = degrading["first_last"]
    assert isinstance(first_last, dict)
    assert first_last["e2e_ms_p99"]["significant"] is True
    assert first_last["e2e_ms_p99"]["low"] > 0


def test_the_same_run_without_growth_is_stable(flat: dict[str, object]) -> None:
    assert flat["verdict"] == VERDICT_STABLE
    assert flat["since_s"] is None
    trends = flat["trends"]
    assert isinstance(trends, dict)
    assert {t["direction"] for t in trends.values()} == {"flat"}
    bursts = flat["bursts"]
    assert isinstance(bursts, dict) and bursts["periodic"] is False


def test_the_soak_object_is_plain_json_and_repeats_exactly(flat: dict[str, object]) -> None:
    again = soak_of_records(mock_run(0.0), 3600.0, None)
    assert json.dumps(again, allow_nan=False) == json.dumps(flat, allow_nan=False)
    windows = flat["windows"]
    assert isinstance(windows, list) and len(windows) == 60
    assert flat["window_s"] == 60.0


def test_flat_runs_are_rarely_called_degrading() -> None:
    seeds = range(101, 109)
    verdicts = [
        soak_section(TimeSlicer(2400.0).add_all(mock_run(0.0, minutes=40.0, seed=s)))["verdict"]
        for s in seeds
    ]
    assert verdicts.count(VERDICT_DEGRADING) <= 1, verdicts


def test_a_short_run_says_too_short_and_gives_no_trend() -> None:
    records = [attempt(float(i)) for i in range(600)]
    soak = soak_of_records(records, 600.0, None)
    assert soak["verdict"] == VERDICT_TOO_SHORT
    assert str(soak["reason"]).startswith("too short for a trend verdict: the run lasted 10 min")
    assert "trends" not in soak and "since_s" not in soak
    assert len(soak["windows"]) == 10


def test_a_long_but_sparse_run_is_too_short_for_a_trend() -> None:
    records = [attempt(float(i) * 30.0) for i in range(int(MIN_SOAK_S * 2 / 30))]
    soak = soak_of_records(records, MIN_SOAK_S * 2, None)
    assert soak["verdict"] == VERDICT_TOO_SHORT
    assert "successful attempts" in str(soak["reason"])


def test_rising_error_rate_alone_makes_a_run_degrading() -> None:
    rng = np.random.default_rng(4)
    records = [
        attempt(i / 2.0, 0.1, 1.0, ok=bool(rng.random() >= 0.002 + 0.08 * i / 7200.0))
        for i in range(7200)
    ]
    soak = soak_of_records(records, 3600.0, None)
    assert soak["verdict"] == VERDICT_DEGRADING
    trends = soak["trends"]
    assert isinstance(trends, dict)
    assert trends["error_rate"]["direction"] == "rising"
    assert trends["e2e_ms_p99"]["direction"] == "flat"


def test_significance_is_the_one_compare_uses() -> None:
    assert ALPHA == COMPARE_ALPHA


def test_error_bursts_every_ten_minutes_are_found_with_their_period() -> None:
    rng = np.random.default_rng(8)

    def fails(sent_s: float) -> bool:
        share = 0.3 if int(sent_s // 60) % 10 == 3 else 0.005
        return bool(rng.random() < share)

    records = [attempt(i / 2.0, ok=not fails(i / 2.0)) for i in range(7200)]
    bursts = soak_of_records(records, 3600.0, None)["bursts"]
    assert bursts["periodic"] is True and bursts["p_value"] < ALPHA
    assert bursts["low_s"] <= 600.0 <= bursts["high_s"]
