"""The runner keeps the heap built before the run (the plan) out of the collector's reach
while requests are sent, and gives it back afterwards."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from harness.engine import LiveStats
from harness.records import AttemptRecord
from harness.runner import execute
from harness.scenario import parse_scenario


class _FreezeWatcher:
    """An abort check that never aborts and notes the frozen object count per record."""

    def __init__(self) -> None:
        self.frozen_counts: list[int] = []

    def __call__(self, stats: LiveStats, elapsed_s: float) -> dict[str, Any] | None:
        return None

    def observe(self, record: AttemptRecord) -> None:
        self.frozen_counts.append(gc.get_freeze_count())


def test_the_plan_is_frozen_during_the_run_and_thawed_after(tmp_path: Path) -> None:
    scenario = parse_scenario({
        "name": "heap", "seed": 2, "duration": "0.5s", "drain": "3s",
        "arrival": {"process": "constant", "rate": "20/s"},
        "workload": [{"kind": "stream", "prompt_tokens": 20, "max_tokens": 3}],
        "mock": {"deployments": [{"name": "only", "model": "mock-small", "ttft_ms": 1,
                                  "itl_ms": 1, "output_tokens": 3}]},
    }, "heap")
    watcher = _FreezeWatcher()
    assert gc.get_freeze_count() == 0
    result = execute(scenario, tmp_path, "heap", progress=False, abort_check=watcher)
    assert result.summary["requests_ok"] == 10
    assert len(watcher.frozen_counts) == 10
    # The plan's objects alone number in the hundreds; all of them were frozen.
    assert min(watcher.frozen_counts) > 1000
    assert gc.get_freeze_count() == 0
