"""Per-request cost and upstream attempts of a run read out of core: a connection of
``harness.store.query.run_database`` and the run in, the samples of
``cost_per_1k_requests_usd`` and ``retry_amplification`` out, the very ones
``harness.stats.request_samples`` gives from the records in memory.

The billable attempts are the summary's (``harness.store.upstream``): the run's ledger lines
(``LEDGER_ITEMS``, after ``read_ledger``) or, without a ledger, the client's sent attempts
(``RECORD_ITEMS``), with the billed and clamped token counts of ``harness.store.billing``.
DuckDB gives each attempt its sent request's index and its (model, deployment) pair's; numpy
prices a batch of attempts at a time as ``ModelPrice.cost_usd`` prices one (the same
products added in the same order, so the same float), and ``request_cost_samples`` adds a
request's attempts. None, as in memory, when an attempt with billed tokens has no price,
when a run line of the ledger names no request, or (upstream attempts) when the run has no
ledger line or one names no request.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np

from harness.cost import PriceBook, load_price_book
from harness.metrics.costs import UNKNOWN
from harness.stats.columns import FloatArray, IntArray, Samples, request_cost_samples, time_ordered
from harness.stats.request_samples import ledger_run_id
from harness.stats.run_data import RunData
from harness.stats.slices import SliceError, terms_of
from harness.store.billing import billed_relation
from harness.store.query import has_ledger
from harness.store.request_table import sent_requests
from harness.store.upstream import LEDGER_ITEMS, RECORD_ITEMS, ledger_lines, read_ledger

#: Rows priced per numpy batch (bounds the memory a batch takes).
_BATCH_ROWS = 1 << 20

# The sent requests, numbered: a sample's index.
_NUMBERED = """
CREATE OR REPLACE TEMP TABLE req_ix AS
SELECT request_id, first_scheduled_s, row_number() OVER () - 1 AS ix FROM sent_req
"""
# What RECORD_ITEMS reads of ``harness.store.logical``'s table (the model of a request's
# last plan line), without the request figures that table is built for.
_PLAN_MODELS = (
    "CREATE TEMP VIEW logical AS SELECT request_id, last_model AS plan_last_model FROM plan"
)
# Each billable attempt: its sent request (-1: none), whether it names a request at all,
# its model and deployment, and its billed counts.
_ITEMS = """
CREATE TEMP TABLE items AS
SELECT coalesce(r.ix, -1) AS ix, b.request_id IS NULL AS no_id, b.model, b.deployment,
  b.b_prompt - b.c_cached - b.c_write AS plain, b.c_cached AS cached, b.c_write AS written,
  b.b_completion AS completion, b.b_prompt > 0 OR b.b_completion > 0 AS bills
FROM ({billed}) b LEFT JOIN req_ix r USING (request_id)
"""
_PAIRS = """
CREATE TEMP TABLE pairs AS
SELECT model, deployment, bool_or(bills) AS bills, bool_or(no_id) AS no_id,
  row_number() OVER (ORDER BY model, deployment) - 1 AS code
FROM items GROUP BY model, deployment
"""
_PRICED_ROWS = """
SELECT i.ix, p.code, i.plain, i.cached, i.written, i.completion
FROM items i JOIN pairs p USING (model, deployment) WHERE i.ix >= 0
"""


def _times(con: duckdb.DuckDBPyConnection) -> FloatArray:
    """Each sent request's first intended send, by index (``req_ix``)."""
    found = con.execute("SELECT coalesce(first_scheduled_s, 0.0) AS t FROM req_ix ORDER BY ix")
    return np.asarray(found.fetchnumpy()["t"], dtype=np.float64)


def _book(run: RunData) -> PriceBook | None:
    try:
        return load_price_book(terms_of(run).prices)
    except (SliceError, ValueError):
        return None


def _prices(pairs: list[tuple[Any, ...]], book: PriceBook) -> list[FloatArray] | None:
    """USD per token of each pair (input, cache read, cache write, output), by its code; None
    when a pair bills tokens without a price. An unpriced pair that bills nothing costs 0."""
    columns = np.zeros((4, len(pairs)), np.float64)
    for model, deployment, bills, _, code in pairs:
        price = book.price_for(model, None if deployment == UNKNOWN else deployment)
        if price is None:
            if bills:
                return None
            continue
        read = price.cache_read_usd_per_token
        written = price.cache_creation_usd_per_token
        columns[:, code] = (
            price.input_usd_per_token,
            price.input_usd_per_token if read is None else read,
            price.input_usd_per_token if written is None else written,
            price.output_usd_per_token,
        )
    return list(columns)


def _priced(batch: dict[str, Any], prices: list[FloatArray]) -> FloatArray:
    """``ModelPrice.cost_usd`` of each row of ``batch``: plain prompt, cached, written and
    completion tokens (billed and clamped) times their price per token, added in that
    order."""
    code = np.asarray(batch["code"], np.int64)
    plain, cached, written, completion = (
        np.asarray(batch[name], np.int64) for name in ("plain", "cached", "written", "completion")
    )
    usd: FloatArray = (
        plain * prices[0][code]
        + cached * prices[1][code]
        + written * prices[2][code]
        + completion * prices[3][code]
    )
    return usd


def cost_samples(con: duckdb.DuckDBPyConnection, run: RunData) -> Samples | None:
    """``harness.stats.request_samples.request_costs`` of the run whose files ``con`` holds."""
    book = _book(run)
    if book is None:
        return None
    sent_requests(con, with_plan=False)
    con.execute(_NUMBERED)
    if has_ledger(con):
        read_ledger(con, ledger_run_id(run))
        source = LEDGER_ITEMS
    else:
        con.execute(_PLAN_MODELS)
        source = RECORD_ITEMS
    con.execute(_ITEMS.format(billed=billed_relation(source)))
    con.execute(_PAIRS)
    pairs = con.execute("SELECT model, deployment, bills, no_id, code FROM pairs").fetchall()
    prices = _prices(pairs, book)
    if prices is None or any(no_id for _, _, _, no_id, _ in pairs):
        return None
    requests: list[IntArray] = []
    usd: list[FloatArray] = []
    with con.sql(_PRICED_ROWS).to_arrow_reader(_BATCH_ROWS) as reader:
        for batch in reader:
            columns = {name: batch.column(name).to_numpy() for name in batch.schema.names}
            requests.append(np.asarray(columns["ix"], np.int64))
            usd.append(_priced(columns, prices))
    return request_cost_samples(
        _times(con),
        np.concatenate(requests) if requests else np.empty(0, np.int64),
        np.concatenate(usd) if usd else np.empty(0, np.float64),
    )


def upstream_samples(con: duckdb.DuckDBPyConnection, run: RunData) -> Samples | None:
    """``harness.stats.request_samples.upstream_attempts`` of the run whose files ``con``
    holds: the run's ledger lines per sent request."""
    if not has_ledger(con):
        return None
    facts = ledger_lines(con, ledger_run_id(run))  # no matching to attempts needed
    if not facts.lines or facts.with_ids < facts.lines:
        return None
    sent_requests(con, with_plan=False)
    con.execute(_NUMBERED)
    found = con.execute(
        "SELECT coalesce(any_value(r.first_scheduled_s), 0.0) AS t, "
        "count(l.request_id)::DOUBLE AS v "
        "FROM req_ix r LEFT JOIN led l USING (request_id) GROUP BY r.ix"
    ).fetchnumpy()
    return time_ordered(
        np.asarray(found["t"], dtype=np.float64), np.asarray(found["v"], dtype=np.float64)
    )
