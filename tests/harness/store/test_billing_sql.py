"""The billing SQL of the large-run summary restates ``harness.cost.billed_tokens`` and the
clamps of ``ModelPrice.cost_usd`` exactly: per attempt, for any outcome and any counts
(negative and inconsistent ones too); and the cost of attempts added up by
``harness.store.billing.cost_items`` is the sum of their costs as the in-memory summary
prices them (``harness.metrics.costs``), unpriced models included."""

from __future__ import annotations

import math

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cost import billed_tokens, load_price_book
from harness.metrics.costs import UNKNOWN, cost_item, token_totals, total_usd, unpriced_labels
from harness.store.billing import BILLABLE_COLUMNS, billed_relation, cost_items

BOOK = load_price_book({})
_COUNT = st.integers(-5, 400)
_ROW = st.tuples(
    st.sampled_from(["ok", "stream_cut", "http_429", "cancelled", "reset"]),
    _COUNT,
    _COUNT,
    _COUNT,
    st.integers(-2, 60),
    st.sampled_from(["mock-small", "mock-large", "nobody-prices-this"]),
    st.sampled_from(["d1", UNKNOWN, "large-slow"]),
    st.booleans(),
)
Row = tuple[str, int, int, int, int, str, str, bool]


def _relation(con: duckdb.DuckDBPyConnection, rows: list[Row]) -> str:
    columns = list(zip(*rows, strict=True)) if rows else [()] * 8
    outcome, prompt, cached, written, completion, model, deployment, wasted = columns
    table = pa.table(
        {
            "request_id": pa.array([None] * len(rows), pa.string()),
            "model": pa.array(model, pa.string()),
            "deployment": pa.array(deployment, pa.string()),
            "outcome": pa.array(outcome, pa.string()),
            "prompt": pa.array(prompt, pa.int64()),
            "cached": pa.array(cached, pa.int64()),
            "cache_write": pa.array(written, pa.int64()),
            "completion": pa.array(completion, pa.int64()),
            "wasted": pa.array(wasted, pa.bool_()),
        }
    )
    assert tuple(table.column_names) == BILLABLE_COLUMNS
    con.register("rows", table)
    return "rows"


@settings(max_examples=100, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=20))
def test_the_sql_bills_each_attempt_as_billed_tokens_does(rows: list[Row]) -> None:
    con = duckdb.connect()
    source = _relation(con, rows)
    found = con.execute(
        "SELECT b_prompt, b_cached, b_write, b_completion, c_cached, c_write "
        f"FROM ({billed_relation(source)})"
    ).fetchall()
    price = BOOK.price_for("mock-small", None)
    assert price is not None
    for row, (prompt, cached, written, completion, c_cached, c_written) in zip(
        rows, found, strict=True
    ):
        billed = billed_tokens(row[0], row[1], row[2], row[3], row[4])
        assert (prompt, cached, written, completion) == (
            billed.prompt,
            billed.cached,
            billed.cache_write,
            billed.completion,
        )
        # The clamped counts price an attempt as ModelPrice.cost_usd does with its own clamps.
        assert price.cost_usd(prompt, c_cached, completion, c_written) == price.cost_usd(
            billed.prompt, billed.cached, billed.completion, billed.cache_write
        )


@settings(max_examples=60, deadline=None)
@given(st.lists(_ROW, max_size=40))
def test_added_up_attempts_cost_what_the_attempts_cost(rows: list[Row]) -> None:
    con = duckdb.connect()
    items = [i for _, i in cost_items(con, _relation(con, rows), BOOK)]
    one_by_one = [
        cost_item(
            BOOK, None, model, deployment, outcome, (prompt, cached, written, completion), wasted
        )
        for outcome, prompt, cached, written, completion, model, deployment, wasted in rows
    ]
    assert sum(i.attempts for i in items) == len(rows)
    assert token_totals(items) == token_totals(one_by_one)
    assert unpriced_labels(items) == unpriced_labels(one_by_one)
    for part in (lambda i: True, lambda i: i.wasted):
        expected = total_usd(i for i in one_by_one if part(i))
        found = total_usd(i for i in items if part(i))
        assert (found is None) == (expected is None)
        if found is not None and expected is not None:
            assert math.isclose(found, expected, rel_tol=1e-9, abs_tol=1e-15)
