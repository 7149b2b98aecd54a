"""What a run cost, per request and per component: the run's billed attempts (the summary's
``CostItem``s), their prices and the requests sent in; a ``RunCosts`` out, which prices the same
traffic at another cache hit rate or retry waste.

The decomposition: *useful* cost ``U`` is that of the attempts that delivered answers, *waste*
``W`` that of every other billed attempt; the retry waste ratio is ``w = W / U`` (what failed
and repeated attempts add per dollar of answers). The cache hit rate ``h`` is the cached share
of the useful attempts' prompt tokens. Cost at another hit rate ``h'`` moves the same share of
every useful attempt's uncached prompt into its cache (``h' > h``) or out of it (``h' < h``),
so that the useful prompt tokens' hit rate is exactly ``h'``; prompt-cache writes stay as they
were. Cost at ``(h', w')`` is ``U(h') * (1 + w')``; at the run's own ``(h, w)`` it is the run's
cost exactly. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.cost import ModelPrice, PriceBook
from harness.metrics.costs import UNKNOWN, CostItem


@dataclass(frozen=True, slots=True)
class RunCosts:
    """A run's cost, ready to be scaled (all USD)."""

    total_usd: float
    requests_sent: int
    duration_s: float
    #: Cost of each sent logical request (all its attempts), in the order they were sent.
    per_request_usd: tuple[float, ...]
    #: Cost no request could be tied to (ledger lines without a request id).
    unattributed_usd: float
    useful_usd: float
    wasted_usd: float
    useful_prompt_tokens: int
    useful_cached_tokens: int
    useful_cache_write_tokens: int
    #: Change of the useful cost when every uncached useful prompt token is cached instead,
    #: and when every cached one is not (the first is <= 0, the second >= 0).
    all_cached_delta_usd: float
    none_cached_delta_usd: float
    #: Billed tokens of every attempt per sent request (what a replica would have to serve).
    prompt_tokens_per_request: float
    uncached_prompt_tokens_per_request: float
    completion_tokens_per_request: float

    @property
    def cost_per_request_usd(self) -> float:
        return self.total_usd / self.requests_sent

    @property
    def cache_hit_rate(self) -> float | None:
        """The useful attempts' cached share of prompt tokens (None: no prompt tokens)."""
        if self.useful_prompt_tokens <= 0:
            return None
        return self.useful_cached_tokens / self.useful_prompt_tokens

    @property
    def max_cache_hit_rate(self) -> float | None:
        """The highest hit rate the useful prompts allow (cache writes are never hits)."""
        if self.useful_prompt_tokens <= 0:
            return None
        return 1.0 - self.useful_cache_write_tokens / self.useful_prompt_tokens

    @property
    def retry_waste(self) -> float | None:
        """``W / U``: None when no answer was delivered (nothing to be waste of)."""
        return None if self.useful_usd <= 0 else self.wasted_usd / self.useful_usd

    def useful_at_usd(self, hit_rate: float) -> float:
        """The useful cost had the prompt cache hit ``hit_rate`` (clamped to what is possible)."""
        h0, top = self.cache_hit_rate, self.max_cache_hit_rate
        if h0 is None or top is None:
            return self.useful_usd
        h = min(max(hit_rate, 0.0), top)
        if h >= h0:
            share = 0.0 if top <= h0 else (h - h0) / (top - h0)
            return self.useful_usd + share * self.all_cached_delta_usd
        return self.useful_usd + (1.0 - h / h0) * self.none_cached_delta_usd

    def total_at_usd(self, hit_rate: float | None, retry_waste: float | None) -> float:
        """Cost of the run's traffic at another hit rate and waste (None: the run's own)."""
        if (hit_rate is None and retry_waste is None) or self.useful_usd <= 0:
            return self.total_usd  # the run's own, or nothing delivered to re-price
        useful = self.useful_usd if hit_rate is None else self.useful_at_usd(hit_rate)
        waste = self.wasted_usd / self.useful_usd if retry_waste is None else retry_waste
        return useful * (1.0 + waste)


def _cache_price_gap(price: ModelPrice | None) -> float:
    """USD per token saved (negative) when a prompt token is read from the cache."""
    if price is None or price.cache_read_usd_per_token is None:
        return 0.0
    return price.cache_read_usd_per_token - price.input_usd_per_token


def run_costs(
    items: Sequence[CostItem],
    book: PriceBook,
    sent_order: Sequence[str],
    duration_s: float,
) -> RunCosts:
    """``RunCosts`` of a run whose billed attempts are ``items`` and whose sent logical
    requests are ``sent_order`` (request ids, first attempt first). ``ValueError`` when a cost
    is unknown (an unpriced model) or nothing was sent."""
    if not sent_order:
        raise ValueError("no request was sent, so there is no cost per request to scale")
    unpriced = sorted({f"{i.model} (deployment {i.deployment})" for i in items if i.unpriced})
    if unpriced:
        raise ValueError(f"no price for {', '.join(unpriced)}: add a [prices] entry")
    per_request: dict[str, float] = dict.fromkeys(sent_order, 0.0)
    total = unattributed = useful = wasted = all_cached = none_cached = 0.0
    prompt = cached = written = 0
    billed = [0, 0, 0]  # prompt, uncached prompt, completion over every item
    for item in items:
        cost = item.cost_usd or 0.0
        total += cost  # in item order, as the summary sums it: the same float
        if item.request_id is not None and item.request_id in per_request:
            per_request[item.request_id] += cost
        else:
            unattributed += cost
        billed[0] += item.prompt_tokens
        billed[1] += item.prompt_tokens - item.cached_tokens
        billed[2] += item.completion_tokens
        if item.wasted:
            wasted += cost
            continue
        useful += cost
        prompt += item.prompt_tokens
        cached += item.cached_tokens
        written += item.cache_write_tokens
        gap = _cache_price_gap(
            book.price_for(item.model, None if item.deployment == UNKNOWN else item.deployment)
        )
        uncached = item.prompt_tokens - item.cache_write_tokens - item.cached_tokens
        all_cached += max(uncached, 0) * gap
        none_cached -= item.cached_tokens * gap
    sent = len(sent_order)
    return RunCosts(
        total_usd=total,
        requests_sent=sent,
        duration_s=duration_s,
        per_request_usd=tuple(per_request[r] for r in sent_order),
        unattributed_usd=unattributed,
        useful_usd=useful,
        wasted_usd=wasted,
        useful_prompt_tokens=prompt,
        useful_cached_tokens=cached,
        useful_cache_write_tokens=written,
        all_cached_delta_usd=all_cached,
        none_cached_delta_usd=none_cached,
        prompt_tokens_per_request=billed[0] / sent,
        uncached_prompt_tokens_per_request=billed[1] / sent,
        completion_tokens_per_request=billed[2] / sent,
    )


def sent_order(first_sent_s: Mapping[str, float]) -> list[str]:
    """Request ids by the time their first attempt was sent (ties: by id)."""
    return sorted(first_sent_s, key=lambda request_id: (first_sent_s[request_id], request_id))
