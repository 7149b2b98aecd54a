"""The soak windows of a run too large for memory, from the DuckDB views
(``harness.store.query``) rather than from record objects.

The samples each window keeps (TTFT, E2E, failed or not, first attempts) come from the ``att``
view's columns, whose definitions equal ``harness.metrics.latency``'s (tested with the
summary), in record order (insertion order is preserved), a batch at a time, into
``TimeSlicer.add_columns``. Costs are billed per group of attempts equal in everything the
price depends on (window, outcome, model, deployment and the four token counts), each group
priced once by ``attempt_cost_usd``, the rule the record path uses. Building ten million
record objects was most of a 10M-attempt report's time; this reads columns only.
"""

from __future__ import annotations

from typing import Any

import duckdb

from harness.cost import PriceBook
from harness.stats.soak import soak_section
from harness.stats.timeslices import TimeSlicer, attempt_cost_usd

#: Rows fetched from DuckDB at a time (samples and cost groups alike).
BATCH_ROWS = 1 << 18

_SAMPLES = "SELECT sent_s, attempt <= 1, ok, ttft_s, e2e_s FROM att WHERE sent"
_COST_GROUPS = """
SELECT floor(sent_s / {width_s})::BIGINT, outcome, model, deployment,
       coalesce(prompt_tokens, 0), coalesce(cached_tokens, 0),
       coalesce(cache_write_tokens, 0), coalesce(completion_tokens, 0), count(*)
FROM att WHERE sent GROUP BY ALL
"""


def soak_slicer(
    con: duckdb.DuckDBPyConnection, duration_s: float, prices: PriceBook | None
) -> TimeSlicer:
    """The run's windows, filled as ``TimeSlicer.add`` would fill them record by record."""
    slicer = TimeSlicer(duration_s, prices)
    reader = con.sql(_SAMPLES).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        slicer.add_columns(*(column.to_numpy(zero_copy_only=False) for column in batch.columns))
    if prices is not None:
        groups = con.execute(_COST_GROUPS.format(width_s=repr(float(slicer.width_s))))
        while rows := groups.fetchmany(BATCH_ROWS):
            for index, outcome, model, deployment, p, c, w, o, count in rows:
                cost = attempt_cost_usd(prices, outcome, model, deployment, (p, c, w, o))
                slicer.add_cost(int(index), cost, int(count))
    return slicer


def soak_of_database(
    con: duckdb.DuckDBPyConnection, duration_s: float, prices: PriceBook | None
) -> dict[str, Any]:
    """``soak_section`` of the run behind ``con``."""
    return soak_section(soak_slicer(con, duration_s, prices))
