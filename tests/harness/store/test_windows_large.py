"""A large run's fault-window figures (DuckDB over its files) are the in-memory ones: before,
during and after each window, and the time to recover, on runs whose failures cluster in a
window, with windows that open at the start, never close, or hold no attempt; recovery read a
span at a time gives the answer of all the attempts at once."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.store.windows
from harness.metrics.windows import FaultWindow, window_figures
from harness.store.query import run_database
from harness.store.windows import window_figures_of_database
from tests.harness.store.handmade_run import attempt, planned, same, write_run


def _records(size: int, seed: int, bad_from_s: float, bad_to_s: float) -> list:  # type: ignore[type-arg]
    """Attempts 0.05 s apart, mostly ok, mostly failing between ``bad_from_s`` and ``bad_to_s``."""
    rng = np.random.default_rng(seed)
    records = []
    for index in range(size):
        in_bad = bad_from_s <= index * 0.05 < bad_to_s
        fails = rng.random() < (0.8 if in_bad else 0.03)
        outcome = str(rng.choice(["http_5xx", "stream_cut"])) if fails else "ok"
        records.append(attempt(index, 1, rng, outcome))
    return records


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 700),
    bad=st.tuples(st.floats(0, 30), st.floats(0, 15)),
    declared=st.lists(
        st.tuples(st.floats(0, 30), st.one_of(st.floats(0.5, 20), st.just(math.inf))),
        min_size=1,
        max_size=3,
    ),
    announced=st.booleans(),
    span_bins=st.sampled_from([1, 3, 300]),
)
def test_the_windows_of_a_large_run_are_the_in_memory_ones(
    seed: int,
    size: int,
    bad: tuple[float, float],
    declared: list[tuple[float, float]],
    announced: bool,
    span_bins: int,
) -> None:
    records = _records(size, seed, bad[0], bad[0] + bad[1])
    windows = [FaultWindow(start, start + length, "http_5xx") for start, length in declared]
    expected = window_figures(records, windows, announced)
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness.store.windows, "RECOVERY_SPAN_BINS", span_bins)
        paths, appender = write_run(Path(folder), [planned(i) for i in range(size)], records)
        with run_database(paths) as con:
            found = window_figures_of_database(con, windows, announced)
        appender.close()
    same(expected, found)


def test_a_run_that_recovers_is_seen_to_and_one_that_never_does_is_not(tmp_path: Path) -> None:
    """The cases above, pinned: failures from 10 to 20 s, a window declared on them."""
    records = _records(800, 5, 10.0, 20.0)
    windows = [
        FaultWindow(10.0, 20.0, "http_5xx"),
        FaultWindow(10.0, math.inf, "http_5xx"),
        FaultWindow(10.0, 15.0, "http_5xx"),  # the failures outlast it by 5 s
    ]
    paths, appender = write_run(tmp_path, [planned(i) for i in range(800)], records)
    with run_database(paths) as con:
        found = window_figures_of_database(con, windows, True)
    appender.close()
    assert found[0]["during"]["error_rate"] > 0.5 > found[0]["after"]["error_rate"]
    assert found[0]["recovery_s"] is not None and found[0]["recovery_s"] < 5.0
    assert found[1]["end_s"] is None and found[1]["recovery_s"] is None
    assert 4.0 <= found[2]["recovery_s"] <= 7.0
    assert found == window_figures(records, windows, True)
