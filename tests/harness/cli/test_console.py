"""The console summary: unknown figures print as unknown, never as $0."""

from __future__ import annotations

from typing import Any

from harness.cli.console import render_summary

BASE: dict[str, Any] = {
    "run_id": "r",
    "requests_planned": 2,
    "requests_sent": 2,
    "requests_ok": 1,
    "requests_failed": 1,
    "error_rate": 0.5,
    "cost_source": "client",
    "valid": True,
    "validity_notes": [],
    "notes": [],
}


def test_an_unpriced_run_prints_unknown_cost_and_names_the_model() -> None:
    summary = {
        **BASE,
        "cost_usd_total": None,
        "cost_per_1k_requests_usd": None,
        "wasted_cost_usd": None,
        "unpriced_models": ["my-llama (deployment (unknown))"],
    }
    line = next(x for x in render_summary(summary, "r.html", "t").splitlines() if "cost" in x)
    assert "$0" not in line
    assert "unknown" in line and "my-llama" in line


def test_a_priced_run_prints_dollars() -> None:
    summary = {
        **BASE,
        "cost_usd_total": 0.25,
        "cost_per_1k_requests_usd": 125.0,
        "wasted_cost_usd": 0.0,
    }
    line = next(x for x in render_summary(summary, "r.html", "t").splitlines() if "cost" in x)
    assert "$0.2500 total" in line and "$0.0000 wasted" in line
