"""A real run's soak section from the large-run path (DuckDB columns, cost groups) equals the
one built record by record."""

from __future__ import annotations

import math
from typing import Any

from harness.contract.records import AttemptRecord, read_jsonl
from harness.cost import load_price_book
from harness.runner import RunResult
from harness.stats.soak import soak_of_records
from harness.stats.soak_columns import soak_of_database
from harness.store.query import run_database


def test_a_real_run_gets_the_same_soak_section(small_run: RunResult) -> None:
    paths = small_run.paths
    records = list(read_jsonl(paths.records, AttemptRecord))
    prices = load_price_book({})
    with run_database(paths) as con:
        by_column: dict[str, Any] = soak_of_database(con, 1.0, prices)
    by_record = soak_of_records(records, 1.0, prices)
    # Costs are summed per group of equal attempts on one side, attempt by attempt on the
    # other: equal up to float rounding, everything else exactly.
    costs = [
        (w.pop("cost_usd"), v.pop("cost_usd"))
        for w, v in zip(by_column["windows"], by_record["windows"], strict=True)
    ]
    assert by_column == by_record
    assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in costs)
    assert costs[0][0] > 0
    assert by_column["windows"][0]["attempts"] == sum(r.sent_s is not None for r in records)
