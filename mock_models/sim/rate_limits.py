"""Provider-style rate limits of a deployment: its RPM/TPM settings, the caller's API key, the
request's token estimate and the time in; allowed or refused, with the ``x-ratelimit-*`` /
``anthropic-ratelimit-*`` and ``retry-after`` headers the provider would send, out.

Pure: the caller passes the clock. Each limit is a token bucket holding one minute's worth
(``requests_per_minute`` or ``tokens_per_minute``), refilled continuously; a ``per = "key"``
limit keeps one bucket per API key, a ``per = "deployment"`` limit one for everybody. A
request is admitted only if every bucket can pay for it, and then pays in all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from mock_models.settings import RateLimitSettings


class TokenBucket:
    """``capacity`` units, refilled at ``capacity`` per minute. A request dearer than the
    whole capacity passes once the bucket is full (leaving it in debt) rather than never."""

    __slots__ = ("_level", "_stamp_s", "capacity")

    def __init__(self, capacity: int, now_s: float) -> None:
        self.capacity = capacity
        self._level = float(capacity)
        self._stamp_s = now_s

    def level(self, now_s: float) -> float:
        elapsed_s = max(0.0, now_s - self._stamp_s)
        self._level = min(float(self.capacity), self._level + elapsed_s * self.capacity / 60.0)
        self._stamp_s = now_s
        return self._level

    def wait_s(self, amount: float, now_s: float) -> float:
        """Seconds until ``amount`` units are there (0 when they are now)."""
        missing = min(amount, float(self.capacity)) - self.level(now_s)
        return 0.0 if missing <= 0 else missing * 60.0 / self.capacity

    def take(self, amount: float, now_s: float) -> None:
        self._level = self.level(now_s) - amount

    def full_in_s(self, now_s: float) -> float:
        return (self.capacity - self.level(now_s)) * 60.0 / self.capacity


@dataclass(frozen=True, slots=True)
class Verdict:
    """Admit or refuse, and the headers to send either way."""

    allowed: bool
    retry_after_s: float
    headers: dict[str, str]


def _reset_text(seconds: float) -> str:
    """OpenAI's reset format: ``17ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1.0:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60.0:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}m{rest:.0f}s"


class RateLimiter:
    """The buckets of one deployment's limits."""

    __slots__ = ("_buckets", "_limits")

    def __init__(self, limits: tuple[RateLimitSettings, ...]) -> None:
        self._limits = limits
        self._buckets: dict[tuple[int, str, str], TokenBucket] = {}

    def _bucket(self, index: int, unit: str, key: str, capacity: int, now_s: float) -> TokenBucket:
        slot = (index, unit, key)
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = TokenBucket(capacity, now_s)
        return bucket

    def check(self, api_key: str, tokens: int, now_s: float, now_unix_s: float) -> Verdict:
        """Admit a request costing one request and ``tokens`` tokens, or say how long to wait."""
        pairs: list[tuple[str, TokenBucket, float]] = []
        for index, limit in enumerate(self._limits):
            key = api_key if limit.per == "key" else ""
            if limit.requests_per_minute is not None:
                pairs.append(
                    (
                        "requests",
                        self._bucket(index, "requests", key, limit.requests_per_minute, now_s),
                        1.0,
                    )
                )
            if limit.tokens_per_minute is not None:
                pairs.append(
                    (
                        "tokens",
                        self._bucket(index, "tokens", key, limit.tokens_per_minute, now_s),
                        float(tokens),
                    )
                )
        wait_s = max((bucket.wait_s(amount, now_s) for _, bucket, amount in pairs), default=0.0)
        if wait_s == 0.0:
            for _, bucket, amount in pairs:
                bucket.take(amount, now_s)
        return Verdict(wait_s == 0.0, wait_s, _headers(pairs, now_s, now_unix_s, wait_s))


def _headers(
    pairs: list[tuple[str, TokenBucket, float]], now_s: float, now_unix_s: float, wait_s: float
) -> dict[str, str]:
    headers: dict[str, str] = {}
    # The tightest bucket of each unit speaks for it, as a provider reports one limit.
    for unit in ("requests", "tokens"):
        buckets = [bucket for name, bucket, _ in pairs if name == unit]
        if not buckets:
            continue
        tightest = min(buckets, key=lambda bucket: bucket.level(now_s) / bucket.capacity)
        remaining = max(0, math.floor(tightest.level(now_s)))
        full_in_s = tightest.full_in_s(now_s)
        reset_at = datetime.fromtimestamp(now_unix_s + full_in_s, UTC)
        headers[f"x-ratelimit-limit-{unit}"] = str(tightest.capacity)
        headers[f"x-ratelimit-remaining-{unit}"] = str(remaining)
        headers[f"x-ratelimit-reset-{unit}"] = _reset_text(full_in_s)
        headers[f"anthropic-ratelimit-{unit}-limit"] = str(tightest.capacity)
        headers[f"anthropic-ratelimit-{unit}-remaining"] = str(remaining)
        headers[f"anthropic-ratelimit-{unit}-reset"] = reset_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if wait_s > 0:
        headers["retry-after"] = str(math.ceil(wait_s))
        headers["retry-after-ms"] = str(math.ceil(wait_s * 1000))
    return headers
