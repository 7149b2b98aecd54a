"""Fault-window figures of a large run in DuckDB: the ``att_t`` view of
``harness.store.query`` and the windows of its fault profile in; what
``harness.metrics.windows.window_figures`` gives from records in memory out, by the same
rules (``phase_figures``, ``bin_health``, ``first_settled``) on the same samples.

Memory stays bounded: a phase's counts come from SQL and only its successful attempts' TTFT
and E2E are fetched (as numpy arrays); recovery reads the attempts after a window
``RECOVERY_SPAN_BINS`` seconds at a time, keeps one health flag per second, and stops at the
first span in which the run has recovered.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np

from harness.metrics.windows import (
    Baseline,
    FaultWindow,
    Sent,
    bin_health,
    first_settled,
    phase_figures,
)
from harness.store.query import scalar

#: Seconds (1-second bins) of attempts after a window read at once for its recovery.
RECOVERY_SPAN_BINS = 300
_RANGE = "sent AND sent_s >= ? AND sent_s < ?"


def _phase(con: duckdb.DuckDBPyConnection, lo: float, hi: float) -> dict[str, Any]:
    bounds = [lo, hi]
    attempts, ok = con.execute(
        f"SELECT count(*), count(*) FILTER (ok) FROM att_t WHERE {_RANGE}", bounds
    ).fetchall()[0]
    found = con.sql(
        "SELECT CASE WHEN first_token_s IS NOT NULL THEN first_token_s - sent_s END AS ttft, "
        f"done_s - sent_s AS e2e FROM att_t WHERE ok AND {_RANGE}",
        params=bounds,
    ).to_arrow_table()
    ttft = found.column("ttft").drop_null().to_numpy()
    e2e = found.column("e2e").drop_null().to_numpy()
    return phase_figures(int(attempts), ttft, e2e, int(ok))


def _baseline(con: duckdb.DuckDBPyConnection, start_s: float) -> Baseline | None:
    bounds = [-math.inf, start_s]
    attempts, ok = con.execute(
        f"SELECT count(*), count(*) FILTER (ok) FROM att_t WHERE {_RANGE}", bounds
    ).fetchall()[0]
    if not attempts:
        return None
    ttft = con.execute(
        f"SELECT first_token_s - sent_s AS v FROM att_t WHERE ok AND {_RANGE} "
        "AND first_token_s IS NOT NULL",
        bounds,
    ).fetchnumpy()["v"]
    median = float(np.median(np.asarray(ttft, np.float64))) if len(ttft) else None
    return Baseline(int(ok) / int(attempts), median)


def _recovery_s(con: duckdb.DuckDBPyConnection, window: FaultWindow) -> float | None:
    if math.isinf(window.end_s):
        return None
    base = _baseline(con, window.start_s)
    if base is None:
        return None
    # Seconds from the window's end, computed as bin_health computes them (the same float
    # subtraction, truncated), so that a span holds whole bins.
    second = f"floor(sent_s - {window.end_s!r})"
    last = scalar(con, f"SELECT max({second}) FROM att_t WHERE sent AND sent_s >= ?", window.end_s)
    health: dict[int, bool] = {}
    first = 0
    while last is not None and first <= int(last):
        rows = con.execute(
            "SELECT sent_s, ok, CASE WHEN ok AND first_token_s IS NOT NULL "
            "THEN first_token_s - sent_s END FROM att_t "
            f"WHERE sent AND sent_s >= ? AND {second} >= ? AND {second} < ?",
            [window.end_s, first, first + RECOVERY_SPAN_BINS],
        ).fetchall()
        after: list[Sent] = [(float(t), bool(ok), ttft) for t, ok, ttft in rows]
        health.update(bin_health(after, window, base))
        settled = first_settled(health)
        if settled is not None:
            return settled
        first += RECOVERY_SPAN_BINS
    return None


def window_figures_of_database(
    con: duckdb.DuckDBPyConnection, windows: list[FaultWindow], start_announced: bool
) -> list[dict[str, Any]]:
    """``harness.metrics.windows.window_figures`` over the attempts of ``con``."""
    first = scalar(con, "SELECT min(sent_s) FROM att_t WHERE sent")
    offset_s = 0.0 if start_announced or first is None else float(first)
    figures = []
    for declared in windows:
        window = FaultWindow(declared.start_s + offset_s, declared.end_s + offset_s, declared.label)
        figures.append(
            {
                "label": window.label,
                "start_s": declared.start_s,
                "end_s": None if math.isinf(declared.end_s) else declared.end_s,
                "offset_s": round(offset_s, 6),
                "before": _phase(con, -math.inf, window.start_s),
                "during": _phase(con, window.start_s, window.end_s),
                "after": _phase(con, window.end_s, math.inf),
                "recovery_s": _recovery_s(con, window),
            }
        )
    return figures
