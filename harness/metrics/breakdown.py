"""Splits: logical requests and cost items in, the ``by_*`` objects of summary.json out.

Two views, named as such. The client's view (``by_requested_model``, ``by_tenant``,
``by_workload``, ``by_api``: chat beside embeddings) groups logical requests by what the client
asked for: the plan's model, its wire API, or its planned tags; counts and latencies are the
requests', and cost and tokens are those of every attempt made on a request's behalf (tied to
it by request id), wherever a gateway sent it. A request without the tag is grouped under
``(none)``; an attempt tied to no request under ``(unknown)``. The upstream's view
(``by_upstream_deployment``) groups the attempts the upstream received by the deployment that
served them, from the same source as cost (the ledger's lines, or the client's attempts and the
deployment their answers named): attempts, outcomes, the models served, tokens billed, cost and
waste. After a gateway's fallback the first view shows the requested model and what answered
it, the second every deployment that was tried.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.metrics.costs import CostItem, token_totals, total_usd
from harness.metrics.latency import e2e_s, is_ok, ttft_s
from harness.metrics.percentiles import stats_ms
from harness.metrics.requests import LogicalRequest

NO_TAG = "(none)"
UNKNOWN = "(unknown)"

RequestKey = Callable[[LogicalRequest], str]
ItemKey = Callable[[CostItem], str]


def _keys(of_request: RequestKey, by_id: Mapping[str, LogicalRequest]) -> ItemKey:
    def of_item(item: CostItem) -> str:
        request = by_id.get(item.request_id) if item.request_id is not None else None
        return of_request(request) if request is not None else UNKNOWN

    return of_item


def _tag(tag: str) -> RequestKey:
    return lambda request: request.tags.get(tag) or NO_TAG


def _api(request: LogicalRequest) -> str:
    """The wire API a request was planned for (chat and embeddings side by side)."""
    return request.planned.api if request.planned is not None else UNKNOWN


def _waste_usd(items: Sequence[CostItem]) -> float | None:
    """What the group's undelivered attempts cost; unknown whenever the group's cost is."""
    if total_usd(items) is None:
        return None
    return total_usd(i for i in items if i.wasted)


def _counts(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _weighted_counts(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for value, weight in pairs:
        counts[value] += weight
    return dict(sorted(counts.items()))


def client_figures(
    sent: int, ok: int, ttft_ms: dict[str, Any], e2e_ms: dict[str, Any], items: Sequence[CostItem]
) -> dict[str, Any]:
    """One group of the client's view: its sent and successful requests, the TTFT and E2E
    stats of their successful attempts, and the cost and tokens of the group's items."""
    return {
        "requests_sent": sent,
        "requests_ok": ok,
        "error_rate": (sent - ok) / sent if sent else None,
        "ttft_ms": ttft_ms,
        "e2e_ms": e2e_ms,
        "cost_usd_total": total_usd(items),
        "tokens": token_totals(items),
    }


def _client_group(
    requests: Sequence[LogicalRequest],
    items: Sequence[CostItem],
    request_key: RequestKey,
    item_key: ItemKey,
) -> dict[str, Any]:
    requests_by: dict[str, list[LogicalRequest]] = defaultdict(list)
    items_by: dict[str, list[CostItem]] = defaultdict(list)
    for request in requests:
        if request.was_sent:
            requests_by[request_key(request)].append(request)
    for item in items:
        items_by[item_key(item)].append(item)
    result: dict[str, Any] = {}
    for key in sorted(set(requests_by) | set(items_by)):
        group = requests_by.get(key, [])
        ok_attempts = [a for r in group for a in r.attempts if is_ok(a)]
        result[key] = client_figures(
            len(group),
            sum(1 for r in group if r.is_ok),
            stats_ms(v for a in ok_attempts if (v := ttft_s(a)) is not None),
            stats_ms(v for a in ok_attempts if (v := e2e_s(a)) is not None),
            items_by.get(key, []),
        )
    return result


def _answered_by(requests: Sequence[LogicalRequest]) -> dict[str, dict[str, int]]:
    """Per requested model, the model named by the answers of its successful requests."""
    answered: dict[str, list[str]] = defaultdict(list)
    for request in requests:
        final = request.final
        if request.is_ok and final is not None:
            answered[request.requested_model].append(final.model or UNKNOWN)
    return {model: _counts(names) for model, names in answered.items()}


def upstream_view(items: Sequence[CostItem]) -> dict[str, Any]:
    """``by_upstream_deployment``: the items grouped by the deployment that served them (an
    item standing for several attempts counts as that many)."""
    by_deployment: dict[str, list[CostItem]] = defaultdict(list)
    for item in items:
        by_deployment[item.deployment].append(item)
    result: dict[str, Any] = {}
    for deployment in sorted(by_deployment):
        group = by_deployment[deployment]
        result[deployment] = {
            "attempts": sum(i.attempts for i in group),
            "attempts_ok": sum(i.attempts for i in group if i.outcome == "ok"),
            "delivered": sum(i.attempts for i in group if not i.wasted),
            "outcomes": _weighted_counts((i.outcome, i.attempts) for i in group),
            "models": _weighted_counts((i.model, i.attempts) for i in group),
            "tokens": token_totals(group),
            "cost_usd_total": total_usd(group),
            "wasted_cost_usd": _waste_usd(group),
        }
    return result


def breakdowns(
    requests: Sequence[LogicalRequest], items: Sequence[CostItem]
) -> dict[str, dict[str, Any]]:
    """The ``by_*`` objects of summary.json (see the module docstring for the two views)."""
    by_id = {request.request_id: request for request in requests}

    def requested(request: LogicalRequest) -> str:
        return request.requested_model

    by_model = _client_group(requests, items, requested, _keys(requested, by_id))
    for model, answered in _answered_by(requests).items():
        by_model[model]["answered_by_model"] = answered
    for figures in by_model.values():
        figures.setdefault("answered_by_model", {})
    tenant, workload = _tag("tenant"), _tag("workload")
    return {
        "by_requested_model": by_model,
        "by_upstream_deployment": upstream_view(items),
        "by_tenant": _client_group(requests, items, tenant, _keys(tenant, by_id)),
        "by_workload": _client_group(requests, items, workload, _keys(workload, by_id)),
        "by_api": _client_group(requests, items, _api, _keys(_api, by_id)),
    }
