"""Projection maths: the volume a ``[projection]`` names, figures that scale the run's cost per
request, intervals from the run's own variation, the sensitivity table and its settings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from harness.capacity.costs import run_costs
from harness.capacity.document import Replica, projection_document
from harness.capacity.projection import SECONDS_PER_DAY, cost_per_request, volume_of
from harness.contract.capacity import Projection
from harness.contract.terms import Price
from harness.cost import load_price_book
from harness.metrics.costs import CostItem
from harness.stats.bootstrap import bootstrap_interval

BOOK = load_price_book(
    {"m": Price(input_per_mtok=1.0, output_per_mtok=4.0, cached_input_per_mtok=0.5)}
)


def _costs(costs_usd: list[float]) -> Any:
    items = [
        CostItem(f"r{i}", "m", "d", 100, 0, 10, cost, False) for i, cost in enumerate(costs_usd)
    ]
    return run_costs(items, BOOK, [f"r{i}" for i in range(len(costs_usd))], 60.0)


def test_volumes_and_figures_scale_the_cost_per_request() -> None:
    costs = _costs([0.001, 0.003] * 50)
    settings = Projection(users_per_day=50_000, requests_per_user=12, days_per_month=30)
    document = projection_document(costs, settings, "r", np.random.default_rng(1))
    figures = document["figures"]
    assert figures["daily"]["usd"] == pytest.approx(600_000 * 0.002)
    assert figures["monthly"]["usd"] == pytest.approx(30 * 600_000 * 0.002)
    assert figures["per_user_day"]["usd"] == pytest.approx(12 * 0.002)
    assert figures["per_user_month"]["usd"] == pytest.approx(30 * 12 * 0.002)
    for figure in figures.values():
        assert figure["low_usd"] < figure["usd"] < figure["high_usd"]
    assert volume_of(Projection(rate="2/s")).requests == 2 * SECONDS_PER_DAY
    once = projection_document(costs, Projection(requests=1000), "r", np.random.default_rng(1))
    assert set(once["figures"]) == {"total"} and once["figures"]["total"]["usd"] == pytest.approx(
        2.0
    )


def test_no_variation_no_width_and_one_request_no_interval() -> None:
    flat = cost_per_request(_costs([0.002] * 40), np.random.default_rng(0))
    assert flat.low_usd == pytest.approx(0.002) and flat.high_usd == pytest.approx(0.002)
    single = cost_per_request(_costs([0.002]), np.random.default_rng(0))
    assert single.low_usd is None and single.high_usd is None


def test_the_bootstrap_interval_covers_the_true_mean_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(200):
        sample = rng.exponential(2.0, size=120)
        interval = bootstrap_interval(sample, lambda rows: rows.mean(axis=1), rng, resamples=800)
        covered += interval.low <= 2.0 <= interval.high
    assert 0.88 <= covered / 200 <= 0.99


def test_sensitivity_marks_the_run_and_reproduces_it() -> None:
    items = [
        CostItem("a", "m", "d", 1000, 500, 10, BOOK.cost_usd("m", None, 1000, 500, 10), False),
        CostItem("b", "m", "d", 1000, 0, 10, BOOK.cost_usd("m", None, 1000, 0, 10), True),
    ]
    costs = run_costs(items, BOOK, ["a", "b"], 1.0)
    settings = Projection(requests=2, cache_hit_rates=(0.0, 1.0), retry_waste=(0.0,))
    table = projection_document(costs, settings, "r", np.random.default_rng(0))["sensitivity"]
    assert table["cache_hit_rates"] == [0.0, 0.5, 1.0] and table["retry_waste"][0] == 0.0
    row = table["cache_hit_rates"].index(0.5)
    column = table["retry_waste"].index(table["run_retry_waste"])
    assert table["usd"][row][column] == pytest.approx(costs.total_usd)


def test_a_replica_is_compared_per_day_only() -> None:
    costs = _costs([0.002] * 10)
    daily = Projection(requests_per_day=1e6, gpu_usd_per_hour=2.0, replica_rps=20)
    hosted = projection_document(costs, daily, "r", np.random.default_rng(0), Replica("x", 4, 20.0))
    assert hosted["self_hosted"]["replica_usd_per_hour"] == 8.0
    assert hosted["self_hosted"]["break_even_requests_per_day"] == pytest.approx(8 * 24 / 0.002)
    once = Projection(requests=10, gpu_usd_per_hour=2.0, replica_rps=20)
    document = projection_document(
        costs, once, "r", np.random.default_rng(0), Replica("x", 1, 20.0)
    )
    assert document["self_hosted"] is None
    assert any("daily volume" in note for note in document["notes"])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "give one volume"),
        ({"rate": 2, "requests": 5}, "not rate and requests"),
        ({"users_per_day": 10}, "together"),
        ({"requests": 5, "replica_rps": 3}, "needs gpu_usd_per_hour"),
        ({"requests": 5, "gpu_usd_per_hour": 3}, "needs a replica"),
        (
            {"requests": 5, "gpu_usd_per_hour": 3, "replica_rps": 2, "replica_run": "x"},
            "one replica source",
        ),
        ({"requests": 5, "cache_hit_rates": [1.5]}, "less than or equal to 1"),
    ],
)
def test_projection_settings_mistakes(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Projection.model_validate(fields)
