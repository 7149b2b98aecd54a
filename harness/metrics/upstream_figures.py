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
from dataclasses import dataclass
from typing import Any

from harness.contract.ledger import WORKER_DIED_FAULT
from harness.contract.records import LedgerEntry
from harness.cost import PriceBook
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
from harness.metrics.upstream import correlate, entries_of_run, gateway_overhead_s

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


@dataclass(frozen=True, slots=True)
class LedgerFacts:
    """What the upstream figures need to know of a run's ledger lines, however they were read
    (here from ``LedgerEntry`` objects; by DuckDB for a large run, ``harness.store``)."""

    lines: int
    #: Lines that carry a request id (attempts can be attributed when there is one).
    with_ids: int
    #: Lines a mock fleet wrote for an attempt open on a dead worker (``WORKER_DIED_FAULT``).
    died: int
    #: The other lines that carry ``lag_ms`` (written by a mock that paces its own tokens).
    paced: int
    #: Prompt plus completion tokens over every line.
    tokens: int


def ledger_facts(entries: Sequence[LedgerEntry]) -> LedgerFacts:
    return LedgerFacts(
        lines=len(entries),
        with_ids=sum(1 for e in entries if e.request_id is not None),
        died=sum(1 for e in entries if e.fault == WORKER_DIED_FAULT),
        paced=sum(1 for e in entries if e.fault != WORKER_DIED_FAULT and e.lag_ms is not None),
        tokens=sum(e.prompt_tokens + e.completion_tokens for e in entries),
    )


def kind_of(facts: LedgerFacts, origin: str) -> str:
    """``mock`` (the model itself: its lines carry ``lag_ms``, or it is the embedded mock),
    ``proxy`` (no line carries ``lag_ms``: the fault proxy), ``mixed``, or ``unknown`` (no line).
    The lines a mock fleet wrote for a dead worker's open attempts know no lag and say nothing."""
    if origin == "embedded":
        return "mock"
    said = facts.lines - facts.died
    if facts.lines and not said:
        return "mock"
    if not said:
        return "unknown"
    if facts.paced == said:
        return "mock"
    return "proxy" if facts.paced == 0 else "mixed"


def upstream_kind(entries: Sequence[LedgerEntry], origin: str) -> str:
    """``kind_of`` the ledger lines ``entries``."""
    return kind_of(ledger_facts(entries), origin)


def _overhead(
    origin: str, facts: LedgerFacts, kind: str, any_ok: bool, overhead_ms: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The overhead stats (``overhead_ms``: those of every matched pair, None without one), or
    None and the note saying why."""
    where = f"the ledger ({ORIGIN_WORDS.get(origin, origin)})"
    if not facts.lines:
        return None, f"gateway overhead unknown: {where} has no line of this run"
    if kind != "mock":
        return None, (
            f"gateway overhead unknown: {where} was written by a tokenstorm fault proxy, "
            "whose service time includes everything behind it; give the mock's ledger "
            "(--ledger URL) to measure the overhead in front of the model"
        )
    if not facts.with_ids:
        return None, None  # the note on missing request ids says it
    if not any_ok:
        return None, (
            "gateway overhead unknown: no attempt succeeded, so none was timed at both ends"
        )
    if overhead_ms is None:
        return None, (
            "gateway overhead unknown: no successful attempt matched a ledger line "
            "(request ids or attempt numbers differ)"
        )
    return overhead_ms, None


@dataclass(frozen=True, slots=True)
class LedgerReading:
    """A run's ledger as the upstream figures read it: ``facts``, the gateway overhead stats
    of the matched pairs and the upstream lag stats of the lines that produced tokens (None
    without any), and what the client saw: whether any attempt succeeded, and the tokens of
    its successful attempts (prompt plus output)."""

    facts: LedgerFacts
    overhead_ms: dict[str, Any] | None
    lag_ms: dict[str, Any] | None
    any_ok: bool
    delivered_tokens: int


def ledger_figures(
    reading: LedgerReading, inputs: SummaryInputs, requests_sent: int, notes: list[str]
) -> dict[str, Any]:
    """The upstream figures of summary.json from a run's ledger (``cost_source`` ledger), with
    a note in ``notes`` for every figure that is null for a reason worth saying."""
    facts = reading.facts
    kind = kind_of(facts, inputs.ledger_origin)
    overhead, why = _overhead(
        inputs.ledger_origin, facts, kind, reading.any_ok, reading.overhead_ms
    )
    if why is not None:
        notes.append(why)
    if facts.lines and not facts.with_ids:
        notes.append(
            "ledger lines carry no request ids (headers dropped on the way?): "
            "waste and gateway overhead cannot be attributed"
        )
    died = facts.died
    if died:
        notes.append(
            f"a mock worker died during the run: {died} attempt{'s' if died != 1 else ''} "
            f"open on a dead worker {'are' if died != 1 else 'is'} in the ledger as reset "
            f"(fault {WORKER_DIED_FAULT}); those failures are the mock's, not the target's"
        )
    return {
        "upstream_attempts": facts.lines,
        "retry_amplification": _ratio(facts.lines, requests_sent),
        "token_amplification": _ratio(facts.tokens, reading.delivered_tokens),
        "gateway_overhead_ms": overhead,
        "upstream_lag_ms": reading.lag_ms,
        "ledger_source": {
            "url": inputs.ledger_url,
            "origin": inputs.ledger_origin,
            "upstream": kind,
        },
        "cost_source": "ledger",
    }


def _from_ledger(
    inputs: SummaryInputs, ledger: Sequence[LedgerEntry], requests_sent: int, notes: list[str]
) -> tuple[dict[str, Any], list[CostItem]]:
    entries = entries_of_run(ledger, inputs.run_id)
    correlation = correlate(entries, inputs.records)
    overhead = gateway_overhead_s(correlation)
    ok_records = [r for r in inputs.records if lat.is_ok(r)]
    # Answers with tokens only: a refusal waits for nothing and would dilute the p99.
    lags_s = [e.lag_ms / 1000.0 for e in entries if e.lag_ms is not None and e.completion_tokens]
    reading = LedgerReading(
        facts=ledger_facts(entries),
        overhead_ms=stats_ms(overhead) if overhead else None,
        lag_ms=stats_ms(lags_s) if lags_s else None,
        any_ok=bool(ok_records),
        delivered_tokens=sum((r.prompt_tokens or 0) + lat.output_tokens(r) for r in ok_records),
    )
    figures = ledger_figures(reading, inputs, requests_sent, notes)
    return figures, items_from_ledger(correlation, inputs.prices)


#: The upstream figures of a run without a ledger, and the note that says why they are null.
NO_LEDGER_FIGURES: dict[str, Any] = {
    "upstream_attempts": None,
    "retry_amplification": None,
    "token_amplification": None,
    "gateway_overhead_ms": None,
    "upstream_lag_ms": None,
    "ledger_source": None,
    "cost_source": "client",
}
NO_LEDGER_NOTE = (
    "no upstream ledger: retry amplification, token amplification and "
    "gateway overhead are unknown; cost and waste are the client's view "
    "(a lower bound: failed attempts rarely report usage)"
)


def cost_figures(
    items: Sequence[CostItem], prices: PriceBook, requests_sent: int, notes: list[str]
) -> dict[str, Any]:
    """The cost figures of summary.json from the run's cost items; ``notes`` gets the models
    without a price."""
    total = total_usd(items)
    unpriced = unpriced_labels(items)
    if unpriced:
        notes.append(
            "no price known for "
            + ", ".join(unpriced)
            + ": cost figures are null (add a [prices] entry to the scenario)"
        )
    return {
        "cost_usd_total": total,
        "cost_per_1k_requests_usd": None if total is None else _ratio(total * 1000, requests_sent),
        # A share of an unknown total is unknown too, even when the attempts it covers
        # happen to bill no token: "$0 wasted" beside an unknown total would read as known.
        "wasted_cost_usd": None if total is None else total_usd(i for i in items if i.wasted),
        "unpriced_models": unpriced,
        "prices": prices_used(items, prices),
    }


def upstream_and_cost(
    inputs: SummaryInputs, requests_sent: int, notes: list[str]
) -> tuple[dict[str, Any], list[CostItem]]:
    """The upstream and cost figures of summary.json, and the cost items the splits use;
    ``notes`` gets a line for every figure that is null for a reason worth saying."""
    if inputs.ledger is None:
        items = items_from_records(inputs.records, plan_models(inputs.plan), inputs.prices)
        figures = dict(NO_LEDGER_FIGURES)
        notes.append(NO_LEDGER_NOTE)
    else:
        figures, items = _from_ledger(inputs, inputs.ledger, requests_sent, notes)
    figures.update(cost_figures(items, inputs.prices, requests_sent, notes))
    return figures, items
