"""The upstream side of a summary: a run's ledger (or, without one, the client's attempts) and
prices in; attempts, amplification, gateway overhead, upstream lag and cost out.

Gateway overhead is defined against the upstream nearest the model: client E2E minus the
service time of a ledger whose service time is the model's own. A tokenstorm mock paces its
tokens itself, and its ledger lines say so by carrying ``lag_ms``; the fault proxy paces
nothing (``lag_ms`` null) and its service time includes everything behind it, so against its
ledger the overhead of whatever stands in front of the model cannot be told and is null. The
summary's ``ledger_source`` says which ledger was read and which kind of upstream wrote it,
and a note explains every null overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.contract.ledger import WORKER_DIED_FAULT
from harness.contract.records import LedgerEntry
from harness.metrics import latency as lat
from harness.metrics.costs import (
    CostItem,
    items_from_ledger,
    items_from_records,
    plan_models,
    prices_used,
    total_usd,
    unpriced_labels,
)
from harness.metrics.inputs import SummaryInputs
from harness.metrics.percentiles import stats_ms
from harness.metrics.upstream import Correlation, correlate, entries_of_run, gateway_overhead_s

ORIGIN_WORDS = {
    "embedded": "the embedded mock",
    "target": "the target's own",
    "option": "the one given with --ledger / target.ledger",
    "unknown": "of unrecorded origin",
}


def _ratio(numerator: float | None, denominator: float) -> float | None:
    if numerator is None or denominator <= 0:
        return None
    return numerator / denominator


def upstream_kind(entries: Sequence[LedgerEntry], origin: str) -> str:
    """``mock`` (the model itself: its lines carry ``lag_ms``, or it is the embedded mock),
    ``proxy`` (no line carries ``lag_ms``: the fault proxy), ``mixed``, or ``unknown`` (no line).
    The lines a mock fleet wrote for a dead worker's open attempts know no lag and say nothing."""
    if origin == "embedded":
        return "mock"
    said = [e for e in entries if e.fault != WORKER_DIED_FAULT]
    if entries and not said:
        return "mock"
    entries = said
    paced = sum(1 for e in entries if e.lag_ms is not None)
    if not entries:
        return "unknown"
    if paced == len(entries):
        return "mock"
    return "proxy" if paced == 0 else "mixed"


def _overhead(
    inputs: SummaryInputs, correlation: Correlation, kind: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The overhead stats, or None and the note saying why."""
    where = f"the ledger ({ORIGIN_WORDS.get(inputs.ledger_origin, inputs.ledger_origin)})"
    if not correlation.entries:
        return None, f"gateway overhead unknown: {where} has no line of this run"
    if kind != "mock":
        return None, (
            f"gateway overhead unknown: {where} was written by a tokenstorm fault proxy, "
            "whose service time includes everything behind it; give the mock's ledger "
            "(--ledger URL) to measure the overhead in front of the model"
        )
    if not correlation.possible:
        return None, None  # the note on missing request ids says it
    if not any(lat.is_ok(r) for r in inputs.records):
        return None, (
            "gateway overhead unknown: no attempt succeeded, so none was timed at both ends"
        )
    overhead = gateway_overhead_s(correlation)
    if overhead is None:
        return None, (
            "gateway overhead unknown: no successful attempt matched a ledger line "
            "(request ids or attempt numbers differ)"
        )
    return stats_ms(overhead), None


def _from_ledger(
    inputs: SummaryInputs, ledger: Sequence[LedgerEntry], requests_sent: int, notes: list[str]
) -> tuple[dict[str, Any], list[CostItem]]:
    entries = entries_of_run(ledger, inputs.run_id)
    correlation = correlate(entries, inputs.records)
    kind = upstream_kind(entries, inputs.ledger_origin)
    overhead, why = _overhead(inputs, correlation, kind)
    if why is not None:
        notes.append(why)
    if entries and not correlation.possible:
        notes.append(
            "ledger lines carry no request ids (headers dropped on the way?): "
            "waste and gateway overhead cannot be attributed"
        )
    died = sum(1 for e in entries if e.fault == WORKER_DIED_FAULT)
    if died:
        notes.append(
            f"a mock worker died during the run: {died} attempt{'s' if died != 1 else ''} "
            f"open on a dead worker {'are' if died != 1 else 'is'} in the ledger as reset "
            f"(fault {WORKER_DIED_FAULT}); those failures are the mock's, not the target's"
        )
    ok_records = [r for r in inputs.records if lat.is_ok(r)]
    delivered_tokens = sum((r.prompt_tokens or 0) + lat.output_tokens(r) for r in ok_records)
    upstream_tokens = sum(e.prompt_tokens + e.completion_tokens for e in entries)
    # Answers with tokens only: a refusal waits for nothing and would dilute the p99.
    lags_s = [e.lag_ms / 1000.0 for e in entries if e.lag_ms is not None and e.completion_tokens]
    figures = {
        "upstream_attempts": len(entries),
        "retry_amplification": _ratio(len(entries), requests_sent),
        "token_amplification": _ratio(upstream_tokens, delivered_tokens),
        "gateway_overhead_ms": overhead,
        "upstream_lag_ms": stats_ms(lags_s) if lags_s else None,
        "ledger_source": {
            "url": inputs.ledger_url,
            "origin": inputs.ledger_origin,
            "upstream": kind,
        },
        "cost_source": "ledger",
    }
    return figures, items_from_ledger(correlation, inputs.prices)


def upstream_and_cost(
    inputs: SummaryInputs, requests_sent: int, notes: list[str]
) -> tuple[dict[str, Any], list[CostItem]]:
    """The upstream and cost figures of summary.json, and the cost items the splits use;
    ``notes`` gets a line for every figure that is null for a reason worth saying."""
    if inputs.ledger is None:
        items = items_from_records(inputs.records, plan_models(inputs.plan), inputs.prices)
        figures: dict[str, Any] = {
            "upstream_attempts": None,
            "retry_amplification": None,
            "token_amplification": None,
            "gateway_overhead_ms": None,
            "upstream_lag_ms": None,
            "ledger_source": None,
            "cost_source": "client",
        }
        notes.append(
            "no upstream ledger: retry amplification, token amplification and "
            "gateway overhead are unknown; cost and waste are the client's view "
            "(a lower bound: failed attempts rarely report usage)"
        )
    else:
        figures, items = _from_ledger(inputs, inputs.ledger, requests_sent, notes)
    total = total_usd(items)
    unpriced = unpriced_labels(items)
    if unpriced:
        notes.append(
            "no price known for "
            + ", ".join(unpriced)
            + ": cost figures are null (add a [prices] entry to the scenario)"
        )
    figures.update(
        cost_usd_total=total,
        cost_per_1k_requests_usd=None if total is None else _ratio(total * 1000, requests_sent),
        # A share of an unknown total is unknown too, even when the attempts it covers
        # happen to bill no token: "$0 wasted" beside an unknown total would read as known.
        wasted_cost_usd=None if total is None else total_usd(i for i in items if i.wasted),
        unpriced_models=unpriced,
        prices=prices_used(items, inputs.prices),
    )
    return figures, items
