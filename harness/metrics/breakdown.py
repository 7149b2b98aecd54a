"""Splits by tag: logical requests and cost items in, ``by_model``/``by_deployment``/``by_tenant``/
``by_workload`` objects out (tag value -> a small summary).

Request counts and latencies go to the group of the request's *final* attempt (for model and
deployment) or of its planned tags (tenant, workload). Cost and tokens go to the group of each
billable attempt itself, so a failed attempt on one deployment followed by a success on
another charges each deployment its own share. A request without the tag is grouped under
``(none)``; a ledger line that cannot be tied to a request under ``(unknown)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.metrics.costs import CostItem, token_totals, total_usd
from harness.metrics.latency import e2e_s, is_ok, ttft_s
from harness.metrics.percentiles import stats_ms
from harness.metrics.requests import LogicalRequest

NO_TAG = "(none)"
UNKNOWN = "(unknown)"

RequestKey = Callable[[LogicalRequest], str]
ItemKey = Callable[[CostItem], str]


def _tag_keys(tag: str, by_id: Mapping[str, LogicalRequest]) -> tuple[RequestKey, ItemKey]:
    def of_request(request: LogicalRequest) -> str:
        return request.tags.get(tag) or NO_TAG

    def of_item(item: CostItem) -> str:
        request = by_id.get(item.request_id) if item.request_id is not None else None
        return of_request(request) if request is not None else UNKNOWN

    return of_request, of_item


def _group(
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
        group_items = items_by.get(key, [])
        ok_attempts = [a for r in group for a in r.attempts if is_ok(a)]
        sent = len(group)
        ok = sum(1 for r in group if r.is_ok)
        result[key] = {
            "requests_sent": sent,
            "requests_ok": ok,
            "error_rate": (sent - ok) / sent if sent else None,
            "ttft_ms": stats_ms(v for a in ok_attempts if (v := ttft_s(a)) is not None),
            "e2e_ms": stats_ms(v for a in ok_attempts if (v := e2e_s(a)) is not None),
            "cost_usd_total": total_usd(group_items),
            "tokens": token_totals(group_items),
        }
    return result


def breakdowns(
    requests: Sequence[LogicalRequest], items: Sequence[CostItem]
) -> dict[str, dict[str, Any]]:
    """All four ``by_*`` objects of summary.json."""
    by_id = {request.request_id: request for request in requests}
    tenant = _tag_keys("tenant", by_id)
    workload = _tag_keys("workload", by_id)
    return {
        "by_model": _group(requests, items, lambda r: r.model, lambda i: i.model),
        "by_deployment": _group(requests, items, lambda r: r.deployment, lambda i: i.deployment),
        "by_tenant": _group(requests, items, *tenant),
        "by_workload": _group(requests, items, *workload),
    }
