"""Cost at scale: a run's ``RunCosts``, a volume and an RNG in; daily and monthly cost, cost
per user, each with a bootstrap interval, and a sensitivity table out (JSON-ready dicts).

Cost per request is the run's total cost over its sent logical requests (every attempt,
failed and repeated ones included), so a volume equal to the run's own gives back its cost.
The interval is a percentile interval of the mean cost per request, from a circular block
bootstrap over the run's requests in the order they were sent (``harness.stats.bootstrap``):
it covers the run's own variation (which requests of the mix it drew, how long they were,
which hit the cache or failed), not a change of mix, prices or target. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.capacity.costs import RunCosts
from harness.contract.capacity import Projection
from harness.stats.bootstrap import bootstrap_interval

SECONDS_PER_DAY = 86_400.0
CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True, slots=True)
class Volume:
    """The traffic to price: requests per day, or a one-off count (``per_day`` False)."""

    requests: float
    per_day: bool
    users_per_day: float | None = None
    requests_per_user: float | None = None
    label: str = ""


def volume_of(settings: Projection) -> Volume:
    """The volume ``settings`` name (it names exactly one, ``Projection`` checks)."""
    if settings.users_per_day is not None and settings.requests_per_user is not None:
        return Volume(
            settings.users_per_day * settings.requests_per_user,
            True,
            settings.users_per_day,
            settings.requests_per_user,
            f"{settings.users_per_day:,.0f} users/day x {settings.requests_per_user:g} "
            "requests/user",
        )
    if settings.requests_per_day is not None:
        return Volume(settings.requests_per_day, True, label="requests/day")
    if settings.rate is not None:
        return Volume(settings.rate * SECONDS_PER_DAY, True, label=f"{settings.rate:g} req/s")
    assert settings.requests is not None
    return Volume(settings.requests, False, label=f"{settings.requests:,.0f} requests")


@dataclass(frozen=True, slots=True)
class PerRequest:
    """Cost per request and its interval (None when one request cannot show variation)."""

    usd: float
    low_usd: float | None
    high_usd: float | None
    block: int | None


def cost_per_request(costs: RunCosts, rng: np.random.Generator) -> PerRequest:
    point = costs.cost_per_request_usd
    if costs.requests_sent < 2:
        return PerRequest(point, None, None, None)
    shift = costs.unattributed_usd / costs.requests_sent
    interval = bootstrap_interval(
        costs.per_request_usd,
        lambda rows: rows.mean(axis=1),
        rng,
        confidence=CONFIDENCE,
        resamples=RESAMPLES,
    )
    return PerRequest(point, interval.low + shift, interval.high + shift, interval.blocks[0])


def _figure(per_request: PerRequest, count: float) -> dict[str, float | None]:
    def scaled(value: float | None) -> float | None:
        return None if value is None else value * count

    return {
        "usd": per_request.usd * count,
        "low_usd": scaled(per_request.low_usd),
        "high_usd": scaled(per_request.high_usd),
    }


def projected(
    per_request: PerRequest, volume: Volume, days_per_month: float
) -> dict[str, dict[str, float | None]]:
    """The projected figures: ``total`` for a one-off volume; ``daily``, ``monthly`` and, with
    users, ``per_user_day`` and ``per_user_month`` (monthly cost per daily user)."""
    if not volume.per_day:
        return {"total": _figure(per_request, volume.requests)}
    figures = {
        "daily": _figure(per_request, volume.requests),
        "monthly": _figure(per_request, volume.requests * days_per_month),
    }
    if volume.requests_per_user is not None:
        figures["per_user_day"] = _figure(per_request, volume.requests_per_user)
        figures["per_user_month"] = _figure(per_request, volume.requests_per_user * days_per_month)
    return figures


def _with_own(values: tuple[float, ...], own: float | None) -> list[float]:
    return sorted({*values, *([] if own is None else [own])})


def sensitivity(costs: RunCosts, settings: Projection, volume: Volume) -> dict[str, Any] | None:
    """Cost of the volume (monthly, or the one-off total) when the cache hit rate (rows) or
    the retry waste (columns) differs from the run's; None when the run delivered nothing."""
    own_h, own_w = costs.cache_hit_rate, costs.retry_waste
    if own_w is None:
        return None
    top = costs.max_cache_hit_rate
    rates = [h for h in _with_own(settings.cache_hit_rates, own_h) if top is None or h <= top]
    wastes = _with_own(settings.retry_waste, own_w)
    count = volume.requests * (settings.days_per_month if volume.per_day else 1.0)
    scale = count / costs.requests_sent
    return {
        "figure": "monthly" if volume.per_day else "total",
        "cache_hit_rates": rates,
        "retry_waste": wastes,
        "run_cache_hit_rate": own_h,
        "run_retry_waste": own_w,
        "usd": [[costs.total_at_usd(h, w) * scale for w in wastes] for h in rates],
    }
