"""The runner keeps the heap built before the run out of the collector's reach while requests
are sent, and gives it back afterwards; the plan itself is streamed, so no planned request
outlives its session."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from harness.contract.records import AttemptRecord, PlannedRequest, read_jsonl
from harness.engine_config import LiveStats
from harness.runner import execute
from workloads.planner import build_plan
from workloads.scenario import parse_scenario

# Its verdicts need the run to keep its schedule: run alone, not beside other tests.
pytestmark = pytest.mark.serial

MODEL = "heap-watch"


class _FreezeWatcher:
    """An abort check that never aborts; per record it notes whether the heap is frozen and
    how many planned requests are alive where the collector walks."""

    def __init__(self) -> None:
        self.frozen: list[bool] = []
        self.planned_alive: list[int] = []

    def __call__(self, stats: LiveStats, elapsed_s: float) -> dict[str, Any] | None:
        return None

    def observe(self, record: AttemptRecord) -> None:
        self.frozen.append(gc.get_freeze_count() > 0)
        # Only this run's requests (its model's name is its own): other tests of the same
        # process may leave planned requests of theirs for the collector to find. Garbage
        # (a finished session's requests held in a cycle) is collected first: alive means live.
        gc.collect()
        self.planned_alive.append(
            sum(isinstance(o, PlannedRequest) and o.model == MODEL for o in gc.get_objects())
        )


def test_the_plan_is_frozen_during_the_run_and_thawed_after(tmp_path: Path) -> None:
    scenario = parse_scenario(
        {
            "name": "heap",
            "seed": 2,
            "duration": "2s",
            "drain": "3s",
            "arrival": {"process": "constant", "rate": "20/s"},
            "target": {"model": MODEL},
            "workload": [{"kind": "stream", "prompt_tokens": 20, "max_tokens": 3}],
            "mock": {
                "deployments": [
                    {
                        "name": "only",
                        "model": MODEL,
                        "ttft_ms": 1,
                        "itl_ms": 1,
                        "output_tokens": 3,
                    }
                ]
            },
        },
        "heap",
    )
    watcher = _FreezeWatcher()
    assert gc.get_freeze_count() == 0
    result = execute(scenario, tmp_path, "heap", progress=False, abort_check=watcher, reports=False)
    # Written as it was drawn, the plan file is the plan the planner builds whole.
    assert list(read_jsonl(result.paths.plan, PlannedRequest)) == build_plan(scenario)
    assert result.summary["requests_ok"] == 40
    assert watcher.frozen == [True] * 40
    # One-request sessions at 20/s, 1 ms answers: a handful alive at once, never the plan.
    # Each observation stops the loop for a full collection, and sessions due meanwhile
    # start together when it returns: the bound leaves a second of such stalls, and a plan
    # held whole (all 40 alive from the start) still fails it.
    assert max(watcher.planned_alive) < len(build_plan(scenario)) // 2
    assert gc.get_freeze_count() == 0
