"""Crafted summaries for gate tests (the hand-made runs are in ``tests/harness/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def crafted(**overrides: Any) -> dict[str, Any]:
    """A summary of a healthy run (no records behind it); ``overrides`` replace keys."""
    summary: dict[str, Any] = {
        "run_id": "crafted",
        "valid": True,
        "validity_notes": [],
        "validity_limits": {
            "max_schedule_lag_p99_ms": 10.0,
            "max_dropped_requests": 0,
            "max_client_cpu_share": 0.9,
        },
        "schedule_lag_ms": {"p99": 1.0},
        "requests_dropped": 0,
        "client_cpu_share": 0.2,
        "requests_sent": 1000,
        "ttft_ms": {
            "p50": 200.0,
            "p90": 400.0,
            "p95": 500.0,
            "p99": 700.0,
            "p999": 900.0,
            "max": 950.0,
            "mean": 250.0,
            "count": 1000,
        },
        "e2e_ms": {
            "p50": 900.0,
            "p90": 1500.0,
            "p95": 2000.0,
            "p99": 3000.0,
            "p999": 3900.0,
            "max": 4100.0,
            "mean": 1000.0,
            "count": 1000,
        },
        "retry_amplification": 1.1,
        "cost_per_1k_requests_usd": 0.3,
        "error_rate": 0.005,
    }
    summary.update(overrides)
    return summary


@pytest.fixture
def summary_of() -> Callable[..., dict[str, Any]]:
    return crafted
