"""Per-request samples gates and comparisons resample, from records in memory: a ``RunData``
in, cost and upstream attempts per sent logical request out (None when the run cannot give
them). ``harness.stats.file_costs`` gives the same samples from a large run's files.

Cost items come from ``harness.metrics.costs`` exactly as the summary's do (ledger when there
is one, else the client's attempts); a request's cost is the sum of its items (smallest
first, ``harness.stats.columns.request_cost_samples``), scaled to USD per 1000 requests so
that the mean of the samples is comparable to ``cost_per_1k_requests_usd``. Upstream
attempts per request need a ledger whose lines carry request ids; their mean is the retry
amplification. Cache hits are one sample per sent
attempt, its cached tokens over the run's mean prompt tokens per attempt (so their mean is
``cache_hit_rate``; the denominator is held fixed, which runs of one plan share anyway), and
goodput one sample per sent request, ``requests_sent / duration`` when it met the SLO else 0
(so their mean is ``goodput_rps`` with the number of requests held fixed).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from harness.cost import load_price_book
from harness.metrics.costs import items_from_ledger, items_from_records, plan_models
from harness.metrics.latency import is_sent
from harness.metrics.requests import LogicalRequest, group_requests
from harness.metrics.slo import meets_slo
from harness.metrics.upstream import correlate, entries_of_run
from harness.stats.columns import (
    Samples,
    cache_hit_samples,
    request_cost_samples,
    time_ordered,
)
from harness.stats.run_data import RunData
from harness.stats.slices import SliceError, terms_of


def ledger_run_id(run: RunData) -> str:
    """The run id its ledger lines carry (the label may be a path when two runs share a run
    id; the ledger knows the run id)."""
    return str(run.summary.get("run_id") or run.label)


def _sent(run: RunData) -> list[LogicalRequest]:
    return [r for r in group_requests(run.plan, run.records or ()) if r.was_sent]


def _samples(requests: list[LogicalRequest], values: dict[str, float]) -> Samples:
    return time_ordered(
        [r.first_scheduled_s or 0.0 for r in requests],
        [values.get(r.request_id, 0.0) for r in requests],
    )


def request_costs(run: RunData) -> Samples | None:
    """USD per 1000 requests, one sample per sent request; None if any attempt is unpriced
    or belongs to no known request."""
    if run.records is None:
        return None
    try:
        prices = load_price_book(terms_of(run).prices)
    except (SliceError, ValueError):
        return None
    if run.ledger is not None:
        entries = entries_of_run(run.ledger, ledger_run_id(run))
        items = items_from_ledger(correlate(entries, run.records), prices)
    else:
        items = items_from_records(run.records, plan_models(run.plan), prices)
    sent = _sent(run)
    index = {request.request_id: number for number, request in enumerate(sent)}
    usd: list[float] = []
    for item in items:
        if item.cost_usd is None:
            return None
        if item.request_id is None:
            # A ledger line without a request id (a gateway dropped the headers) cannot be
            # given to a request; leaving it out would fake an interval around zero.
            return None
        usd.append(item.cost_usd)
    return request_cost_samples(
        np.array([r.first_scheduled_s or 0.0 for r in sent], np.float64),
        np.array([index.get(str(i.request_id), -1) for i in items], np.int64),
        np.array(usd, np.float64),
    )


def upstream_attempts(run: RunData) -> Samples | None:
    """Attempts the upstream received per sent request (needs a ledger with request ids)."""
    if run.records is None or run.ledger is None:
        return None
    entries = entries_of_run(run.ledger, ledger_run_id(run))
    if not entries or any(e.request_id is None for e in entries):
        return None
    counts = Counter(e.request_id for e in entries if e.request_id is not None)
    return _samples(_sent(run), {k: float(v) for k, v in counts.items()})


def cache_hits(run: RunData) -> Samples | None:
    """Per sent attempt, cached tokens over the mean prompt tokens per sent attempt."""
    if run.records is None:
        return None
    sent = [r for r in run.records if is_sent(r)]
    return cache_hit_samples(
        np.array([r.sent_s or 0.0 for r in sent], np.float64),
        np.array([r.cached_tokens or 0 for r in sent], np.int64),
        np.array([r.prompt_tokens or 0 for r in sent], np.int64),
    )


def good_requests(run: RunData) -> Samples | None:
    """Per sent request, its share of ``goodput_rps``: sent / duration if it met the SLO."""
    if run.records is None:
        return None
    try:
        scenario = terms_of(run)
    except SliceError:
        return None
    sent = _sent(run)
    if not sent or scenario.duration <= 0:
        return None
    weight = len(sent) / scenario.duration
    return _samples(sent, {r.request_id: weight for r in sent if meets_slo(r, scenario.slo)})
