"""Per-request samples the comparison resamples: a ``RunData`` in, cost and upstream attempts
per sent logical request out (None when the run cannot give them).

Cost items come from ``harness.metrics.costs`` exactly as the summary's do (ledger when there
is one, else the client's attempts); a request's cost is the sum of its items, scaled to USD
per 1000 requests so that the mean of the samples is comparable to
``cost_per_1k_requests_usd``. Upstream attempts per request need a ledger whose lines carry
request ids; their mean is the retry amplification.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from harness.cost import load_price_book
from harness.gates.run_data import RunData
from harness.gates.slices import Samples, SliceError, scenario_of
from harness.metrics.costs import items_from_ledger, items_from_records, plan_models
from harness.metrics.requests import LogicalRequest, group_requests
from harness.metrics.upstream import correlate, entries_of_run


def _run_id(run: RunData) -> str:
    # The label may be a path when two runs share a run id; the ledger knows the run id.
    return str(run.summary.get("run_id") or run.label)


def _sent(run: RunData) -> list[LogicalRequest]:
    return [r for r in group_requests(run.plan, run.records or ()) if r.was_sent]


def _samples(requests: list[LogicalRequest], values: dict[str, float]) -> Samples:
    pairs = sorted((r.first_scheduled_s or 0.0, values.get(r.request_id, 0.0))
                   for r in requests)
    return Samples(tuple(t for t, _ in pairs), tuple(v for _, v in pairs))


def request_costs(run: RunData) -> Samples | None:
    """USD per 1000 requests, one sample per sent request; None if any attempt is unpriced."""
    if run.records is None:
        return None
    try:
        prices = load_price_book(scenario_of(run).prices)
    except (SliceError, ValueError):
        return None
    if run.ledger is not None:
        entries = entries_of_run(run.ledger, _run_id(run))
        items = items_from_ledger(correlate(entries, run.records), prices)
    else:
        items = items_from_records(run.records, plan_models(run.plan), prices)
    per_request: dict[str, float] = defaultdict(float)
    for item in items:
        if item.cost_usd is None:
            return None
        if item.request_id is not None:
            per_request[item.request_id] += item.cost_usd * 1000.0
    return _samples(_sent(run), per_request)


def upstream_attempts(run: RunData) -> Samples | None:
    """Attempts the upstream received per sent request (needs a ledger with request ids)."""
    if run.records is None or run.ledger is None:
        return None
    entries = entries_of_run(run.ledger, _run_id(run))
    if not entries or any(e.request_id is None for e in entries):
        return None
    counts = Counter(e.request_id for e in entries if e.request_id is not None)
    return _samples(_sent(run), {k: float(v) for k, v in counts.items()})
