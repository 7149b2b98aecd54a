"""Billable attempts: ledger lines (or client attempts) and a ``PriceBook`` in, USD figures out.

With a ledger, cost is what the upstream would bill: every attempt it received, for the tokens
``harness.cost.billed_tokens`` bills by its outcome (a refusal costs nothing; a stream cut or
abandoned after its first token costs its prompt and the tokens generated). Without one, cost
falls back to the client's own attempts and usage under the same rule, which misses upstream
retries and usually the tokens of failed attempts, so the summary says which source it used.

A figure is None, never a silent 0, when some billable attempt has tokens but no known price;
``unpriced`` then names the model/deployment pairs concerned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.contract.records import AttemptRecord, PlannedRequest
from harness.cost import PriceBook, billed_tokens
from harness.metrics.latency import is_ok
from harness.metrics.upstream import Correlation

UNKNOWN = "(unknown)"


@dataclass(frozen=True, slots=True)
class CostItem:
    """One attempt: who served it, how it ended, the tokens it is billed for, their price, and
    whether it was waste. The large-run summary (``harness.store``) adds up attempts alike in
    all of these into one item: ``attempts`` says how many it stands for, and its tokens and
    cost are their sums."""

    request_id: str | None
    model: str
    deployment: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost_usd: float | None
    wasted: bool
    cache_write_tokens: int = 0
    outcome: str = "ok"
    attempts: int = 1

    @property
    def unpriced(self) -> bool:
        return self.cost_usd is None


def cost_item(
    book: PriceBook,
    request_id: str | None,
    model: str,
    deployment: str,
    outcome: str,
    tokens: tuple[int, int, int, int],
    wasted: bool,
) -> CostItem:
    """``tokens`` as reported: prompt, cached, cache write, completion; billed by the outcome."""
    billed = billed_tokens(outcome, *tokens)
    cost = book.cost_usd(
        model,
        None if deployment == UNKNOWN else deployment,
        billed.prompt,
        billed.cached,
        billed.completion,
        billed.cache_write,
    )
    if cost is None and billed.prompt == 0 and billed.completion == 0:
        cost = 0.0  # nothing is billed, so the missing price cannot matter
    return CostItem(
        request_id,
        model,
        deployment,
        billed.prompt,
        billed.cached,
        billed.completion,
        cost,
        wasted,
        billed.cache_write,
        outcome,
    )


def items_from_ledger(correlation: Correlation, book: PriceBook) -> list[CostItem]:
    return [
        cost_item(
            book,
            entry.request_id,
            entry.model or UNKNOWN,
            entry.deployment or UNKNOWN,
            entry.outcome,
            (
                entry.prompt_tokens,
                entry.cached_tokens,
                entry.cache_write_tokens,
                entry.completion_tokens,
            ),
            wasted=not delivered,
        )
        for entry, delivered in zip(correlation.entries, correlation.delivered, strict=True)
    ]


def items_from_records(
    records: Sequence[AttemptRecord], plan_models: Mapping[str, str], book: PriceBook
) -> list[CostItem]:
    """Client-side fallback: every sent attempt, with the usage it recorded (None as 0)."""
    items: list[CostItem] = []
    for record in records:
        if record.sent_s is None:
            continue
        model = record.model or plan_models.get(record.request_id, UNKNOWN)
        items.append(
            cost_item(
                book,
                record.request_id,
                model,
                record.deployment or UNKNOWN,
                record.outcome,
                (
                    record.prompt_tokens or 0,
                    record.cached_tokens or 0,
                    record.cache_write_tokens or 0,
                    record.completion_tokens or 0,
                ),
                wasted=not is_ok(record),
            )
        )
    return items


def plan_models(plan: Sequence[PlannedRequest]) -> dict[str, str]:
    return {planned.request_id: planned.model for planned in plan}


def total_usd(items: Iterable[CostItem]) -> float | None:
    """Sum of the items' cost, or None when any of them is unpriced."""
    total = 0.0
    for item in items:
        if item.cost_usd is None:
            return None
        total += item.cost_usd
    return total


def token_totals(items: Iterable[CostItem]) -> dict[str, int]:
    prompt = cached = written = completion = 0
    for item in items:
        prompt += item.prompt_tokens
        cached += item.cached_tokens
        written += item.cache_write_tokens
        completion += item.completion_tokens
    return {
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "cache_write_tokens": written,
        "completion_tokens": completion,
    }


def unpriced_labels(items: Iterable[CostItem]) -> list[str]:
    return sorted({f"{i.model} (deployment {i.deployment})" for i in items if i.unpriced})


def prices_used(items: Iterable[CostItem], book: PriceBook) -> dict[str, Any]:
    """Which price applied to each model/deployment seen, and the snapshot it came from."""
    used: dict[str, Any] = {}
    for model, deployment in sorted({(i.model, i.deployment) for i in items}):
        price = book.price_for(model, None if deployment == UNKNOWN else deployment)
        used[f"{model} / {deployment}"] = {
            "model": model,
            "deployment": deployment,
            **(price.as_dict() if price is not None else {"source": None}),
        }
    return {"snapshot": dict(book.snapshot_info), "used": used}
