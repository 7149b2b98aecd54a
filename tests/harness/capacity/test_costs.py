"""A run's cost split into useful and wasted parts, re-priced at another cache hit rate or
retry waste: exact at the run's own, the right limits at the ends, monotone in between."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.capacity.costs import RunCosts, run_costs
from harness.contract.terms import Price
from harness.cost import load_price_book
from harness.metrics.costs import CostItem

BOOK = load_price_book(
    {
        "cheap": Price(input_per_mtok=1.0, output_per_mtok=4.0, cached_input_per_mtok=0.25),
        "flat": Price(input_per_mtok=2.0, output_per_mtok=8.0),  # no cache discount
    }
)


def _item(
    request_id: str | None,
    model: str,
    prompt: int,
    cached: int,
    completion: int,
    wasted: bool = False,
    written: int = 0,
) -> CostItem:
    cost = BOOK.cost_usd(model, None, prompt, cached, completion, written)
    return CostItem(request_id, model, "d", prompt, cached, completion, cost, wasted, written)


ITEMS = [
    _item("a", "cheap", 1000, 400, 100),
    _item("b", "cheap", 2000, 0, 50, wasted=True),  # a failed attempt that generated tokens
    _item("b", "cheap", 2000, 1000, 200),
    _item("c", "flat", 500, 0, 20),
    _item(None, "cheap", 300, 0, 10),  # a ledger line without a request id
]


def _costs(items: list[CostItem] = ITEMS) -> RunCosts:
    return run_costs(items, BOOK, ["a", "b", "c"], 10.0)


def test_the_split_adds_up_and_the_run_own_point_is_exact() -> None:
    costs = _costs()
    total = sum(i.cost_usd or 0.0 for i in ITEMS)
    assert costs.total_usd == total
    assert costs.useful_usd + costs.wasted_usd == pytest.approx(total)
    assert sum(costs.per_request_usd) + costs.unattributed_usd == pytest.approx(total)
    assert costs.per_request_usd[1] == pytest.approx(ITEMS[1].cost_usd + ITEMS[2].cost_usd)  # type: ignore[operator]
    assert costs.cache_hit_rate == pytest.approx(1400 / 3800)
    assert costs.total_at_usd(costs.cache_hit_rate, costs.retry_waste) == pytest.approx(
        total, abs=1e-15
    )
    assert costs.total_at_usd(None, None) == total


def test_every_prompt_token_cached_or_none_match_a_direct_pricing() -> None:
    costs = _costs()
    useful = [i for i in ITEMS if not i.wasted]
    all_cached = sum(
        BOOK.cost_usd(i.model, None, i.prompt_tokens, i.prompt_tokens, i.completion_tokens) or 0
        for i in useful
    )
    none_cached = sum(
        BOOK.cost_usd(i.model, None, i.prompt_tokens, 0, i.completion_tokens) or 0 for i in useful
    )
    assert costs.useful_at_usd(1.0) == pytest.approx(all_cached)
    assert costs.useful_at_usd(0.0) == pytest.approx(none_cached)
    assert costs.total_at_usd(1.0, 0.0) == pytest.approx(all_cached)


@settings(max_examples=60, deadline=None)
@given(h1=st.floats(0, 1), h2=st.floats(0, 1), w1=st.floats(0, 3), w2=st.floats(0, 3))
def test_cost_falls_with_hit_rate_and_rises_with_waste(
    h1: float, h2: float, w1: float, w2: float
) -> None:
    costs = _costs()
    low_h, high_h = sorted((h1, h2))
    low_w, high_w = sorted((w1, w2))
    assert costs.total_at_usd(high_h, low_w) <= costs.total_at_usd(low_h, low_w) + 1e-15
    assert costs.total_at_usd(low_h, high_w) >= costs.total_at_usd(low_h, low_w) - 1e-15
    assert costs.total_at_usd(high_h, 0.0) == pytest.approx(costs.useful_at_usd(high_h))


def test_cache_writes_cap_the_hit_rate_and_nothing_delivered_has_no_waste_ratio() -> None:
    costs = run_costs([_item("a", "cheap", 1000, 0, 10, written=600)], BOOK, ["a"], 1.0)
    assert costs.max_cache_hit_rate == pytest.approx(0.4)
    assert costs.useful_at_usd(1.0) == costs.useful_at_usd(0.4)
    failed = run_costs([_item("a", "cheap", 1000, 0, 10, wasted=True)], BOOK, ["a"], 1.0)
    assert failed.retry_waste is None and failed.total_at_usd(0.5, 0.2) == failed.total_usd


def test_unknown_prices_and_empty_runs_are_refused() -> None:
    unpriced = CostItem("a", "nobody-knows", "d", 10, 0, 1, None, False)
    with pytest.raises(ValueError, match="no price for nobody-knows"):
        run_costs([unpriced], BOOK, ["a"], 1.0)
    with pytest.raises(ValueError, match="no request was sent"):
        run_costs([], BOOK, [], 1.0)
    assert math.isfinite(_costs().cost_per_request_usd)
