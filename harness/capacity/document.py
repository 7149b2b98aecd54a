"""One run's projection: its ``RunCosts``, the ``[projection]`` settings, a replica and an RNG
in; the ``projection.json`` document (``tokenstorm.projection/1``) out.

The console, ``projection.md`` and the HTML report all show this document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.capacity.costs import RunCosts
from harness.capacity.projection import (
    CONFIDENCE,
    RESAMPLES,
    SECONDS_PER_DAY,
    cost_per_request,
    projected,
    sensitivity,
    volume_of,
)
from harness.capacity.replica import EngineFigures, modelled_rps, self_hosted
from harness.contract.capacity import Projection

PROJECTION_SCHEMA = "tokenstorm.projection/1"


@dataclass(frozen=True, slots=True)
class Replica:
    """A self-hosted replica: measured or given throughput (``rps``), or the engine figures to
    model it from; ``gpus`` it occupies; a label saying where the figures come from."""

    label: str
    gpus: int
    rps: float | None = None
    engine: EngineFigures | None = None


def _self_hosted(
    costs: RunCosts,
    settings: Projection,
    replica: Replica | None,
    per_day: float | None,
    notes: list[str],
) -> dict[str, Any] | None:
    if replica is None or settings.gpu_usd_per_hour is None:
        return None
    if per_day is None:
        notes.append("the self-hosted comparison needs a daily volume, not a one-off count")
        return None
    rps = replica.rps
    if rps is None and replica.engine is not None:
        rps = modelled_rps(
            replica.engine,
            costs.prompt_tokens_per_request,
            costs.uncached_prompt_tokens_per_request,
            costs.completion_tokens_per_request,
        )
        notes.append(
            f"replica throughput modelled from {replica.label} at full batch with this run's "
            "tokens per request: a ceiling at any latency; measure what meets the SLO with "
            "tokenstorm sweep and give replica_run = SWEEP_DIR"
        )
    if rps is None or rps <= 0:
        notes.append(f"no throughput known for {replica.label}: no self-hosted comparison")
        return None
    usd_per_hour = settings.gpu_usd_per_hour * replica.gpus
    return {
        "source": replica.label,
        "gpus_per_replica": replica.gpus,
        "gpu_usd_per_hour": settings.gpu_usd_per_hour,
        **self_hosted(per_day, costs.cost_per_request_usd, rps, usd_per_hour),
    }


def projection_document(
    costs: RunCosts,
    settings: Projection,
    run_id: str,
    rng: np.random.Generator,
    replica: Replica | None = None,
) -> dict[str, Any]:
    """Everything ``projection.json`` holds (see docs/capacity.md)."""
    notes: list[str] = []
    volume = volume_of(settings)
    per_request = cost_per_request(costs, rng)
    if per_request.low_usd is None:
        notes.append("one request cannot show variation: no interval")
    if costs.unattributed_usd > 0:
        notes.append(
            f"${costs.unattributed_usd:.6f} of the run's cost is tied to no request (ledger "
            "lines without a request id): spread evenly over the requests, outside the interval"
        )
    per_day = volume.requests if volume.per_day else None
    return {
        "schema": PROJECTION_SCHEMA,
        "run_id": run_id,
        "run": {
            "requests_sent": costs.requests_sent,
            "duration_s": costs.duration_s,
            "cost_usd_total": costs.total_usd,
            "cost_per_request_usd": per_request.usd,
            "cost_per_request_low_usd": per_request.low_usd,
            "cost_per_request_high_usd": per_request.high_usd,
            "cache_hit_rate": costs.cache_hit_rate,
            "retry_waste": costs.retry_waste,
            "wasted_usd": costs.wasted_usd,
            "prompt_tokens_per_request": costs.prompt_tokens_per_request,
            "uncached_prompt_tokens_per_request": costs.uncached_prompt_tokens_per_request,
            "completion_tokens_per_request": costs.completion_tokens_per_request,
        },
        "volume": {
            "label": volume.label,
            "requests": volume.requests,
            "per_day": volume.per_day,
            "users_per_day": volume.users_per_day,
            "requests_per_user": volume.requests_per_user,
            "rps": None if per_day is None else per_day / SECONDS_PER_DAY,
        },
        "days_per_month": settings.days_per_month,
        "figures": projected(per_request, volume, settings.days_per_month),
        "interval": {
            "confidence": CONFIDENCE,
            "method": "circular block bootstrap of the mean cost per request over the run's "
            "requests in send order",
            "block": per_request.block,
            "resamples": RESAMPLES,
        },
        "sensitivity": sensitivity(costs, settings, volume),
        "self_hosted": _self_hosted(costs, settings, replica, per_day, notes),
        "notes": notes,
    }
