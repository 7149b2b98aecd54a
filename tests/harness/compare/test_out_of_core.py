"""Comparing runs read from their files (as runs over ``STREAMED_ABOVE_ATTEMPTS`` are) gives
the in-memory comparison: the same figures, bootstrap intervals, block lengths and
Mann-Whitney p-values with the same seed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.compare import compare_runs
from harness.stats.run_data import load_run
from tests.harness.stats.made_runs import write_run


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 60), st.floats(1.0, 2.0))
def test_the_files_give_the_in_memory_comparison(seed: int, size: int, slower: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        roots = [
            write_run(Path(folder) / "a", seed, size).root,
            write_run(Path(folder) / "b", seed + 1, size, slower=slower).root,
        ]
        memory = compare_runs([load_run(r) for r in roots], np.random.default_rng(5))
        files = compare_runs(
            [load_run(r, streamed_above=0) for r in roots], np.random.default_rng(5)
        )
    assert files.values == memory.values
    assert files.differences == memory.differences
    (found,) = files.differences.values()
    tested = {d.key for d in found if d.significant is not None}
    assert {"ttft_p50_ms", "ttft_p99_ms", "e2e_p99_ms", "error_rate", "goodput_rps"} <= tested
    assert all(d.rank_p_value is not None for d in found if d.key.startswith("ttft"))
