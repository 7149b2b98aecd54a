"""A small real run against the embedded mock, shared by the store's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runner import RunResult, execute
from workloads.scenario import parse_scenario


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    scenario = parse_scenario(
        {
            "name": "small",
            "seed": 5,
            "duration": "1s",
            "drain": "3s",
            "arrival": {"process": "poisson", "rate": "30/s"},
            "workload": [{"kind": "chat", "turns": 2, "max_tokens": 6, "think_time": 0.1}],
            "mock": {"faults": "flaky"},
        },
        "small",
    )
    out: Path = tmp_path_factory.mktemp("runs")
    return execute(scenario, out, "small", progress=False)
