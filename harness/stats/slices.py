"""Slices of a run: a ``RunData`` and tag filters in, the slice's summary and samples out.

A filter selects *logical requests* by tag, the way the summary's ``by_*`` splits do:
``model`` and ``deployment`` of the final attempt, ``outcome`` (final outcome), ``fault``
(the fault the upstream injected into the final attempt, ``none`` when it injected none) and
any planned tag (``tenant``, ``workload``, ``feature``...). The slice's figures are recomputed
by ``harness.metrics.summarize`` over the matching plan lines, records and ledger lines, so a
filtered ``error_rate`` or ``cost_per_1k_requests_usd`` means exactly what the unfiltered one
does. Trend samples come from ``harness.stats.trends`` (the ``harness.metrics.latency``
definitions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import ValidationError

from harness.contract.terms import RunTerms
from harness.cost import load_price_book
from harness.metrics.latency import e2e_s
from harness.metrics.requests import LogicalRequest, group_requests
from harness.metrics.summary import SummaryInputs, summarize
from harness.metrics.upstream import correlate, entries_of_run
from harness.stats.columns import Samples, failure_samples, time_ordered
from harness.stats.run_data import RunData
from harness.stats.trends import NO_FAULT, NO_TAG, PER_ATTEMPT_TRENDS, attempt_samples


class SliceError(ValueError):
    """A slice cannot be computed from what the run directory holds."""


@dataclass(frozen=True, slots=True)
class TagFilter:
    """``tag=value`` (or ``tag!=value`` when ``negate``) in a budget key or a slice."""

    tag: str
    value: str
    negate: bool = False


@dataclass(frozen=True, slots=True)
class SliceFigures:
    """The summary figures of a slice of a run (the run's own summary when unfiltered)."""

    summary: Mapping[str, Any]
    #: Why a figure ``summary`` does not hold is unknown (None: the summary's notes say).
    missing: str | None = None


def request_tag(request: LogicalRequest, tag: str) -> str:
    """The value of ``tag`` for one logical request (see the module docstring)."""
    final = request.final
    if tag == "model":
        return request.model
    if tag == "deployment":
        return request.deployment
    if tag == "outcome":
        return request.outcome
    if tag == "fault":
        return final.fault if final is not None and final.fault else NO_FAULT
    return request.tags.get(tag) or NO_TAG


def matches(request: LogicalRequest, filters: Sequence[TagFilter]) -> bool:
    return all((request_tag(request, f.tag) == f.value) != f.negate for f in filters)


def terms_of(run: RunData) -> RunTerms:
    """The run's duration, SLO and prices, from its manifest's scenario (``SliceError`` when
    absent or invalid)."""
    raw = run.manifest.get("scenario")
    if not isinstance(raw, Mapping):
        raise SliceError(
            f"run {run.label}: manifest.json has no scenario, so a filtered "
            "figure cannot be recomputed"
        )
    try:
        return RunTerms.model_validate(raw)
    except ValidationError:
        raise SliceError(f"run {run.label}: manifest.json scenario is not valid") from None


def select(run: RunData, filters: Sequence[TagFilter]) -> RunData:
    """The run restricted to the matching requests, with its summary recomputed."""
    if not filters:
        return run
    if run.records is None:
        raise SliceError(f"run {run.label}: tag filters need records.jsonl")
    requests = group_requests(run.plan, run.records)
    keep = {r.request_id for r in requests if matches(r, filters)}
    plan = tuple(p for p in run.plan if p.request_id in keep)
    records = tuple(r for r in run.records if r.request_id in keep)
    ledger = None if run.ledger is None else tuple(e for e in run.ledger if e.request_id in keep)
    scenario = terms_of(run)
    try:
        prices = load_price_book(scenario.prices)
    except ValueError as exc:
        raise SliceError(f"run {run.label}: scenario prices: {exc}") from None
    summary: dict[str, Any] = summarize(
        SummaryInputs(
            run_id=str(run.summary.get("run_id") or run.label),
            duration_s=scenario.duration,
            plan=plan,
            records=records,
            ledger=ledger,
            prices=prices,
            slo=scenario.slo,
            client_cpu_s=run.summary.get("client_cpu_s"),
            wall_s=run.summary.get("wall_s"),
            cache_similarity_threshold=_cache_threshold(run),
        )
    )
    return replace(run, summary=summary, plan=plan, records=records, ledger=ledger)


def _cache_threshold(run: RunData) -> float | None:
    """The scenario's ``[target] cache_similarity_threshold`` (None when not given)."""
    target = (run.manifest.get("scenario") or {}).get("target")
    value = target.get("cache_similarity_threshold") if isinstance(target, Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def trend_samples(run: RunData, name: str) -> Samples | None:
    """The samples behind the summary's ``name`` object; None when records cannot give them."""
    if run.records is None:
        return None
    pairs: list[tuple[float, float]] = []
    if name in PER_ATTEMPT_TRENDS:
        for record in run.records:
            pairs.extend(attempt_samples(record, name))
    elif name == "latency_with_retries_ms":
        for request in group_requests(run.plan, run.records):
            value = request.latency_with_retries_s()
            if value is not None and request.first_scheduled_s is not None:
                pairs.append((request.first_scheduled_s, value))
    elif name == "gateway_overhead_ms":
        found = overhead_pairs(run)
        if found is None:
            return None  # no ledger, or one that cannot time this run: summary figures only
        pairs = found
    else:
        return None
    return time_ordered([t for t, _ in pairs], [v for _, v in pairs], 1000.0)


def overhead_pairs(run: RunData) -> list[tuple[float, float]] | None:
    """(sent time, client E2E minus the mock's service time) per successful attempt matched
    to a ledger line, in s: the samples of ``gateway_overhead_ms`` (the summary's figure is
    null when the upstream is not the mock; so is this then)."""
    overhead = run.summary.get("gateway_overhead_ms")
    if run.records is None or run.ledger is None or not isinstance(overhead, Mapping):
        return None
    run_id = str(run.summary.get("run_id") or run.label)
    correlation = correlate(entries_of_run(run.ledger, run_id), run.records)
    pairs: list[tuple[float, float]] = []
    for record, entry in correlation.pairs:
        client_e2e = e2e_s(record)
        if client_e2e is not None:
            pairs.append((record.sent_s or 0.0, client_e2e - entry.service_ms / 1000.0))
    return pairs or None


def request_failures(run: RunData) -> Samples | None:
    """One sample per sent logical request: 1.0 when it failed, 0.0 when it succeeded."""
    if run.records is None:
        return None
    sent = [r for r in group_requests(run.plan, run.records) if r.was_sent]
    return failure_samples(
        np.array([r.first_scheduled_s or 0.0 for r in sent], np.float64),
        np.array([r.is_ok for r in sent], np.bool_),
    )
