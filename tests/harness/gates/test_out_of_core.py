"""Gating a run read from its files (as runs over ``STREAMED_ABOVE_ATTEMPTS`` are) gives the
very report gating it from its records in memory gives: values, sample counts, sustained
breaches, tag-filtered budgets and the seeded noise checks; what the files do not give yet is
inconclusive with a reason, never 0."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.gates import Verdict, evaluate, parse_budget
from harness.stats.run_data import load_run
from tests.harness.stats.made_runs import write_run

BUDGET = """
[thresholds]
"ttft_ms" = ["p(99) < 250", "p(50) < 100", "avg < 200", "max < 400", "med < 120", "min < 50",
             "count > 5", { threshold = "p(90) < 120", over = "1s" }]
"ttft_corrected_ms" = ["p(75) < 200"]
"e2e_ms{outcome=ok}" = ["p(95) < 300"]
"e2e_corrected_ms{deployment!=d2}" = ["max < 300"]
"ttft_ms{tenant=a}" = ["p(99) < 200"]
"ttft_ms{model!=m1,fault=none}" = ["avg < 150"]
"tpot_ms" = ["p(75) < 5"]
"schedule_lag_ms" = ["max < 0.5"]
"latency_with_retries_ms{workload=(none)}" = ["p(99) < 900"]
"error_rate" = ["rate < 0.2", { threshold = "rate < 0.1", over = "1s" }]
"error_rate{tenant!=b}" = ["rate < 0.3"]
"requests_sent{deployment=d1}" = ["count > 3"]
"requests_failed{model=m2}" = ["count < 4"]
"cache_hit_rate" = ["rate > 0.2"]
[regression]
"ttft_ms" = ["p(50) <= baseline * 0.8", "p(99) <= baseline * 1.0 + 1"]
"error_rate" = ["rate <= baseline * 0.5"]
"e2e_ms{tenant=a}" = ["avg <= baseline * 0.9"]
[baseline]
require_same = ["seed"]
"""


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 60))
def test_the_files_give_the_in_memory_report(seed: int, size: int) -> None:
    budget = parse_budget(BUDGET)
    with tempfile.TemporaryDirectory() as folder:
        current = write_run(Path(folder) / "run", seed, size, slower=1.6).root
        before = write_run(Path(folder) / "base", seed + 1, size).root
        memory = evaluate(budget, load_run(current), load_run(before), np.random.default_rng(3))
        files = evaluate(
            budget,
            load_run(current, streamed_above=0),
            load_run(before, streamed_above=0),
            np.random.default_rng(3),
        )
    assert files == memory
    assert "sustained breach" in " ".join(r.detail for r in memory.results)


def test_noise_checks_ran_on_both_paths(tmp_path: Path) -> None:
    current = write_run(tmp_path / "run", 11, 60, slower=2.0).root
    before = write_run(tmp_path / "base", 12, 60).root
    budget = parse_budget(
        '[regression]\n"ttft_ms" = ["p(50) <= baseline * 0.8"]\n[baseline]\nrequire_same = ["seed"]'
    )
    reports = [
        evaluate(
            budget,
            load_run(current, streamed_above=above),
            load_run(before, streamed_above=above),
            np.random.default_rng(9),
        )
        for above in (None, 0)
    ]
    assert reports[0] == reports[1]
    assert "90% CI" in reports[1].results[-1].detail


def test_figures_the_files_do_not_give_are_inconclusive_with_a_reason(tmp_path: Path) -> None:
    root = write_run(tmp_path / "run", 13, 40).root
    budget = parse_budget(
        '[thresholds]\n"goodput_rps{tenant=a}" = ["value > 0"]\n"itl_ms" = ["p(75) < 100"]\n'
        '"itl_ms{tenant=a}" = ["p(99) < 100"]\n"slo_attainment{model=m1}" = ["rate > 0"]'
    )
    memory = evaluate(budget, load_run(root), None, np.random.default_rng(1))
    files = evaluate(budget, load_run(root, streamed_above=0), None, np.random.default_rng(1))
    rows = [r for r in files.results if r.section == "thresholds"]
    assert [r.verdict for r in rows] == [Verdict.INCONCLUSIVE] * 4
    assert all(r.observed is None for r in rows)
    assert "in bounded memory" in rows[0].detail and "tag-filtered" in rows[0].detail
    assert "not read from the files" in rows[1].detail
    assert "tag-filtered" in rows[2].detail and "tag-filtered" in rows[3].detail
    # The records in memory do give them.
    assert all(r.observed is not None for r in memory.results if r.section == "thresholds")
