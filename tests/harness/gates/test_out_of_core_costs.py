"""Gating and comparing on cost per 1k requests and retry amplification: a run read from its
files (as runs over ``STREAMED_ABOVE_ATTEMPTS`` are) gives the in-memory verdicts, values,
sustained breaches and seeded noise-check intervals, from the same per-request samples."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.compare import compare_runs
from harness.gates import Verdict, evaluate, parse_budget
from harness.stats.run_data import load_run
from tests.harness.stats.costed_runs import LEDGERS, write_costed_run

BUDGET = """
[thresholds]
"cost_per_1k_requests_usd" = ["value < 1", { threshold = "value < 0.04", over = "1s" }]
"retry_amplification" = ["value < 1.1", { threshold = "value < 1.5", over = "1s" }]
[regression]
"cost_per_1k_requests_usd" = ["value <= baseline * 0.5", "value <= baseline * 1.0 + 0.5"]
"retry_amplification" = ["value <= baseline * 0.8"]
[baseline]
require_same = ["seed"]
"""
ROWS = ("cost_per_1k_requests_usd", "retry_amplification")


def _runs(folder: Path, seed: int, size: int, ledger: str) -> tuple[Path, Path]:
    return (
        write_costed_run(folder / "run", seed, size, ledger=ledger).root,
        write_costed_run(folder / "base", seed + 1, size, ledger=ledger).root,
    )


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(10, 50), st.sampled_from(LEDGERS))
def test_the_files_give_the_in_memory_gate_and_comparison(
    seed: int, size: int, ledger: str
) -> None:
    budget = parse_budget(BUDGET)
    with tempfile.TemporaryDirectory() as folder:
        run, base = _runs(Path(folder), seed, size, ledger)
        memory = evaluate(budget, load_run(run), load_run(base), np.random.default_rng(3))
        files = evaluate(
            budget,
            load_run(run, streamed_above=0),
            load_run(base, streamed_above=0),
            np.random.default_rng(3),
        )
        assert files == memory
        compared = [
            compare_runs(
                [load_run(run, streamed_above=above), load_run(base, streamed_above=above)],
                np.random.default_rng(5),
            )
            for above in (None, 0)
        ]
    assert compared[1].values == compared[0].values
    assert compared[1].differences == compared[0].differences


def test_noise_checks_and_intervals_ran_on_both_paths(tmp_path: Path) -> None:
    run, base = _runs(tmp_path, 7, 40, "with_ids")
    budget = parse_budget(BUDGET)
    reports = [
        evaluate(
            budget,
            load_run(run, streamed_above=above),
            load_run(base, streamed_above=above),
            np.random.default_rng(9),
        )
        for above in (None, 0)
    ]
    assert reports[0] == reports[1]
    rows = [r for r in reports[1].results if r.metric in ROWS]
    assert all(r.observed is not None for r in rows)
    regressions = [r for r in rows if r.section == "regression"]
    for metric in ROWS:  # each breached its tight limit, and was checked against the noise
        assert any("90% CI" in r.detail for r in regressions if r.metric == metric), metric
    assert all("no per-sample data" not in r.detail for r in regressions)
    sustained = [r for r in rows if "sustained breach" in r.detail]
    assert len(sustained) == 2 and {r.verdict for r in sustained} <= {Verdict.PASS, Verdict.FAIL}
    comparison = compare_runs(
        [load_run(run, streamed_above=0), load_run(base, streamed_above=0)],
        np.random.default_rng(5),
    )
    (found,) = comparison.differences.values()
    tested = {d.key for d in found if d.significant is not None}
    assert set(ROWS) <= tested
