"""Cost of a large run in DuckDB: billable attempts (a relation of ledger lines or client
attempts) in, ``CostItem``s out, each standing for every attempt alike in model, deployment,
outcome, waste and the split keys asked for (``CostItem.attempts`` says how many).

The billing rule is ``harness.cost.billed_tokens`` and the price is ``PriceBook.cost_usd``,
both applied in Python. SQL restates only what must be done per attempt before adding up:
the billing rule itself and the clamps of ``ModelPrice.cost_usd`` (cached tokens at most the
prompt, cache writes at most the rest). Once clamped per attempt, the cost of a sum of
attempts is the sum of their costs (it is linear in each count), so one ``cost_usd`` call
prices a group. ``tests/harness/store/test_billing_sql.py`` proves the restatement equal to
the Python rule, and the summary tests prove the costs equal to the in-memory summary's.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from harness.cost import PriceBook
from harness.metrics.costs import UNKNOWN, CostItem

#: The columns a billable relation gives: who served the attempt, how it ended, the four
#: counts as reported (null as 0), and whether it was waste; ``request_id`` ties it to a
#: request (for the splits).
BILLABLE_COLUMNS = (
    "request_id",
    "model",
    "deployment",
    "outcome",
    "prompt",
    "cached",
    "cache_write",
    "completion",
    "wasted",
)

# harness.cost.billed_tokens: an attempt that did not end ok and generated no token is billed
# nothing; any other, every count floored at 0.
_BILLED = """
SELECT *,
  CASE WHEN bills THEN greatest(prompt, 0) ELSE 0 END AS b_prompt,
  CASE WHEN bills THEN greatest(cached, 0) ELSE 0 END AS b_cached,
  CASE WHEN bills THEN greatest(cache_write, 0) ELSE 0 END AS b_write,
  CASE WHEN bills THEN greatest(completion, 0) ELSE 0 END AS b_completion
FROM (SELECT *, outcome IS NOT DISTINCT FROM 'ok' OR completion > 0 AS bills FROM {source})
"""
# harness.cost.ModelPrice.cost_usd's clamps, per attempt.
_CLAMPED = """
SELECT *, least(b_cached, b_prompt) AS c_cached,
  least(b_write, b_prompt - least(b_cached, b_prompt)) AS c_write
FROM ({billed})
"""


def billed_relation(source: str) -> str:
    """``source`` (a relation with ``BILLABLE_COLUMNS``) with the billed counts ``b_prompt``,
    ``b_cached``, ``b_write``, ``b_completion`` and the clamped ``c_cached``, ``c_write``."""
    return _CLAMPED.format(billed=_BILLED.format(source=source))


def cost_items(
    con: duckdb.DuckDBPyConnection,
    source: str,
    book: PriceBook,
    keys: Sequence[str] = (),
) -> list[tuple[tuple[str, ...], CostItem]]:
    """The attempts of ``source`` added up by ``keys`` (columns of ``source``), model,
    deployment, outcome and waste: each group's key values and its ``CostItem``."""
    grouped = ", ".join([*keys, "model", "deployment", "outcome", "wasted"])
    rows = con.execute(
        f"SELECT {grouped}, count(*), sum(b_prompt), sum(b_cached), sum(b_write), "
        "sum(b_completion), sum(c_cached), sum(c_write), "
        "bool_or(b_prompt > 0 OR b_completion > 0) "
        f"FROM ({billed_relation(source)}) GROUP BY {grouped}"
    ).fetchall()
    items: list[tuple[tuple[str, ...], CostItem]] = []
    for row in rows:
        key = tuple(str(value) for value in row[: len(keys)])
        model, deployment, outcome, wasted, attempts, *sums, has_tokens = row[len(keys) :]
        prompt, cached, written, completion, cached_priced, written_priced = (int(s) for s in sums)
        price = book.price_for(model, None if deployment == UNKNOWN else deployment)
        if price is not None:
            cost: float | None = price.cost_usd(prompt, cached_priced, completion, written_priced)
        else:
            # As harness.metrics.costs: nothing billed, so the missing price cannot matter.
            cost = None if has_tokens else 0.0
        item = CostItem(
            None,
            model,
            deployment,
            prompt,
            cached,
            completion,
            cost,
            bool(wasted),
            written,
            outcome,
            int(attempts),
        )
        items.append((key, item))
    return items
