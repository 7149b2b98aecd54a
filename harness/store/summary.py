"""The summary of a run too large for memory: its files queried with DuckDB
(``harness.store.query``) in, the figures of ``harness.metrics.summary`` out.

Same definitions, same figures: latency percentiles come from the same numpy function over
the same samples in the same order (one metric's samples in memory at a time: 80 MB for
10 million attempts); ITL, of which a run holds billions of gaps, from counts of distinct
microsecond gaps (``stats_from_counts``: the same ranks and interpolation, equal up to
float rounding). Request-level figures group attempts by request id inside DuckDB, which
spills to disk past its memory limit.

Cost and upstream figures come from the ledger (or the client's attempts) as in memory
(``harness.store.upstream``, ``harness.store.billing``), the ``by_*`` splits likewise
(``harness.store.splits``), and the gateway cache's (``harness.store.cache``). Not computed
here yet, and null with a note saying so: the guardrail probe figures of a run that sent
probes and has a ledger naming requests (without either they are null in memory too).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import duckdb
import numpy as np

from harness.metrics.inputs import SummaryInputs
from harness.metrics.percentiles import stats, stats_from_counts
from harness.metrics.summary import CLOSED_LOOP_NOTE, SUMMARY_SCHEMA
from harness.metrics.token_pace import client_behind, judge_itl
from harness.metrics.upstream_figures import (
    NO_LEDGER_FIGURES,
    NO_LEDGER_NOTE,
    cost_figures,
    ledger_figures,
)
from harness.metrics.validity import assess_validity
from harness.run_dir import RunPaths
from harness.store.billing import cost_items
from harness.store.cache import gateway_cache
from harness.store.logical import request_figures
from harness.store.query import counts, has_ledger, run_database, scalar
from harness.store.splits import KEY_COLUMNS, build_keys, keyed, splits
from harness.store.upstream import LEDGER_ITEMS, RECORD_ITEMS, read_ledger

#: The note of every large run, and of one whose probe figures are left null here only.
BOUNDED_NOTE = "run of {n:,} attempts summarised from its files in bounded memory"
NOT_COMPUTED_NOTE = (
    BOUNDED_NOTE + ": its guardrail probe figures are not computed at this size yet (null)"
)
_PROBE_KEYS = ("probe_block_rate", "probe_false_positive_rate", "probes")


def _stats_ms(con: duckdb.DuckDBPyConnection, expression: str, where: str) -> dict[str, Any]:
    column = con.execute(
        f"SELECT {expression} AS v FROM att_t WHERE {where} AND {expression} IS NOT NULL"
    ).fetchnumpy()["v"]
    return stats(np.asarray(column, dtype=np.float64), scale=1000.0)


def _ratio(numerator: float | None, denominator: float) -> float | None:
    return None if numerator is None or denominator <= 0 else numerator / denominator


def _tokens(con: duckdb.DuckDBPyConnection, duration_s: float) -> dict[str, Any]:
    prompt, completion, cached, written, attempts = con.execute(
        "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), "
        "sum(cached_tokens), coalesce(sum(cache_write_tokens), 0), count(*) "
        "FROM att_t WHERE sent"
    ).fetchone() or (0, 0, None, 0, 0)
    delivered = scalar(con, "SELECT coalesce(sum(output_tokens), 0) FROM att_t WHERE ok")
    pairs = con.execute(
        "SELECT count(*), sum(planned_prompt_tokens), sum(prompt_tokens) FROM att_t "
        "WHERE sent AND usage_source = 'server' AND planned_prompt_tokens IS NOT NULL "
        "AND prompt_tokens IS NOT NULL"
    ).fetchone() or (0, None, None)
    return {
        "output_tokens_per_s": _ratio(int(delivered or 0), duration_s),
        "prompt_tokens_total": int(prompt),
        "completion_tokens_total": int(completion),
        "cached_tokens_total": None if cached is None else int(cached),
        "cache_hit_rate": None if cached is None else _ratio(int(cached), int(prompt)),
        "cache_write_tokens_total": int(written),
        "usage_source_counts": counts(
            con, "SELECT coalesce(usage_source, 'none'), count(*) FROM att_t WHERE sent GROUP BY 1"
        ),
        "client_attempts": int(attempts),
        "attempt_outcomes": counts(con, "SELECT outcome, count(*) FROM att_t GROUP BY 1"),
        "prompt_tokens_planned_total": None if not pairs[0] else int(pairs[1]),
        "prompt_tokens_upstream_total": None if not pairs[0] else int(pairs[2]),
        "prompt_tokens_upstream_ratio": None if not pairs[0] else _ratio(pairs[2], pairs[1]),
        "prompt_tokens_compared_attempts": int(pairs[0]),
    }


#: Gaps under this many microseconds are counted in an array indexed by the gap (``bincount``);
#: the rare longer ones by ``unique``.
_DENSE_GAP_US = 1 << 21


def _itl(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], float | None]:
    """ITL's stats and same-read share from every gap of every successful stream, streamed
    from DuckDB a batch at a time into counts of distinct microsecond gaps."""
    dense = np.zeros(_DENSE_GAP_US, np.int64)
    sparse: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    reader = con.sql("SELECT token_gaps_us FROM att_t WHERE ok").to_arrow_reader(1 << 16)
    for batch in reader:
        gaps = batch.column(0).flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        inside = (gaps >= 0) & (gaps < _DENSE_GAP_US)
        dense += np.bincount(gaps[inside], minlength=_DENSE_GAP_US)
        if not inside.all():
            sparse.append(np.unique(gaps[~inside], return_counts=True))
    values = [np.flatnonzero(dense)] + [v for v, _ in sparse]
    tallies = [dense[values[0]]] + [c for _, c in sparse]
    gap_us = np.concatenate(values).astype(np.float64)
    count = np.concatenate(tallies)
    total = int(count.sum())
    share = float(count[gap_us <= 0].sum()) / total if total else None
    return stats_from_counts(gap_us / 1e6, count, scale=1000.0), share


def _upstream_and_cost(
    con: duckdb.DuckDBPyConnection, inputs: SummaryInputs, requests_sent: int, notes: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The upstream and cost figures (``harness.metrics.upstream_figures.upstream_and_cost``),
    and what summary.json ends with: the ``by_*`` splits, the gateway-cache figures and the
    probe figures (null: ``_probes_missing``)."""
    build_keys(con)
    if has_ledger(con):
        reading = read_ledger(con, inputs.run_id)
        figures = ledger_figures(reading, inputs, requests_sent, notes)
        source = LEDGER_ITEMS
    else:
        figures = dict(NO_LEDGER_FIGURES)
        notes.append(NO_LEDGER_NOTE)
        source = RECORD_ITEMS
    items = cost_items(con, keyed(source), inputs.prices, KEY_COLUMNS)
    figures.update(cost_figures([i for _, i in items], inputs.prices, requests_sent, notes))
    last: dict[str, Any] = dict(splits(con, items))
    last.update(gateway_cache(con, source, inputs.prices, inputs.cache_similarity_threshold))
    last.update(dict.fromkeys(_PROBE_KEYS))
    return figures, last


def _probes_missing(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the probe figures are left null here but not in memory: they are null there
    too unless the run sent probes (plan tag ``class = "probe"``) and its ledger names
    requests (``harness.metrics.probes``)."""
    probes = scalar(con, "SELECT count(*) FROM logical WHERE was_sent AND plan_class = 'probe'")
    return bool(
        probes
        and has_ledger(con)
        and scalar(con, "SELECT count(*) FROM ledger_t WHERE request_id <> ''")
    )


def summarize_files(paths: RunPaths, inputs: SummaryInputs, attempts: int) -> dict[str, Any]:
    """The summary.json object of the run in ``paths`` (scalars from ``inputs``)."""
    with run_database(paths) as con:
        return summarize_database(con, inputs, attempts)


def summarize_database(
    con: duckdb.DuckDBPyConnection, inputs: SummaryInputs, attempts: int
) -> dict[str, Any]:
    """``summarize_files`` on a connection of ``harness.store.query.run_database``."""
    notes: list[str] = []
    summary: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "run_id": inputs.run_id,
        "duration_s": inputs.duration_s,
        "concurrency": inputs.concurrency,
    }
    requests = request_figures(con, inputs)
    slo_keys = ("goodput_rps", "slo_attainment", "slo", "latency_with_retries_ms", "in_flight")
    summary.update({k: v for k, v in requests.items() if k not in slo_keys})
    if inputs.concurrency is not None:
        notes.append(CLOSED_LOOP_NOTE.format(n=inputs.concurrency))
    summary.update(
        ttft_ms=_stats_ms(con, "ttft_s", "ok"),
        ttft_corrected_ms=_stats_ms(con, "ttft_corrected_s", "ok"),
        tpot_ms=_stats_ms(con, "tpot_s", "ok"),
        e2e_ms=_stats_ms(con, "e2e_s", "ok"),
        e2e_corrected_ms=_stats_ms(con, "e2e_corrected_s", "ok"),
        latency_with_retries_ms=requests["latency_with_retries_ms"],
        schedule_lag_ms=_stats_ms(con, "schedule_lag_s", "sent"),
    )
    itl_ms, share = _itl(con)
    tokens = _tokens(con, inputs.duration_s)
    cpu_share = (
        None
        if inputs.client_cpu_s is None or inputs.wall_s is None
        else _ratio(inputs.client_cpu_s, inputs.wall_s)
    )
    limits = inputs.limits
    behind = client_behind(
        summary["schedule_lag_ms"]["p99"],
        cpu_share,
        limits.max_schedule_lag_p99_ms,
        limits.max_client_cpu_share,
    )
    itl = judge_itl(itl_ms, share, behind)
    summary.update(itl_ms=itl.itl_ms, itl_same_read_share=itl.same_read_share)
    if itl.remark is not None:
        notes.append(itl.remark)
    summary.update(tokens, prompt_tokenizer=inputs.tokenizer)
    summary["client_retries"] = summary["client_attempts"] - summary["requests_sent"]
    upstream, last = _upstream_and_cost(con, inputs, summary["requests_sent"], notes)
    summary.update(upstream)
    summary.update({k: requests[k] for k in ("goodput_rps", "slo_attainment", "slo")})
    if summary["requests_unrecorded"]:
        notes.append(
            f"{summary['requests_unrecorded']} planned requests have no record "
            "(run interrupted?) and count as cancelled"
        )
    in_flight = requests["in_flight"]
    if in_flight:
        notes.append(
            f"{in_flight} requests were still in flight when the run ended; they count as failed"
        )
    note = NOT_COMPUTED_NOTE if _probes_missing(con) else BOUNDED_NOTE
    notes.append(note.format(n=attempts))
    upstream_lag = summary["upstream_lag_ms"]
    valid, validity_notes = assess_validity(
        schedule_lag_p99_ms=summary["schedule_lag_ms"]["p99"],
        upstream_lag_p99_ms=None if upstream_lag is None else upstream_lag["p99"],
        requests_dropped=summary["requests_dropped"],
        requests_sent=summary["requests_sent"],
        client_cpu_s=inputs.client_cpu_s,
        wall_s=inputs.wall_s,
        limits=limits,
        achieved_rps=summary["achieved_rps"],
        target_rps=summary["target_rps"],
        pool_waits=inputs.pool_waits,
        max_connections=inputs.max_connections,
    )
    if itl.withheld_because is not None:
        validity_notes.append(itl.withheld_because)
    summary.update(
        client_cpu_s=inputs.client_cpu_s,
        wall_s=inputs.wall_s,
        client_cpu_share=cpu_share,
        max_connections=inputs.max_connections,
        pool_waits=inputs.pool_waits,
        valid=valid,
        validity_notes=validity_notes,
        notes=notes,
        validity_limits=dataclasses.asdict(limits),
    )
    summary.update(last)
    return summary
