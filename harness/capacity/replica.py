"""A self-hosted replica against an API price: a replica's throughput (modelled from a mock
profile's engine figures and the run's tokens per request, or given) and its $/hour in; what
serving a volume costs and the break-even volume out.

Modelled throughput, at full batch with continuous batching (the mock's engine, vLLM's
scheduler): a request of ``C`` output tokens holds a batch slot for ``C`` steps (its prefill
step emits the first token), decodes ``C - 1`` times and prefills ``P`` uncached prompt
tokens. With ``B`` slots busy (``max_num_seqs``, fewer when the KV cache cannot hold ``B``
contexts of ``prompt + C`` tokens) and a step budget of ``M`` tokens, one second of engine
time serves ``X`` requests where::

    1 / X = max(C / B, (C - 1 + P) / M) * step_base + decode_per_seq * (C - 1)
            + prefill_per_token * P

That is the ceiling at any latency; the SLO may allow much less (``tokenstorm sweep`` measures
it). Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The mock engine's defaults for keys a profile leaves out (docs/mock.md, "Latency models").
ENGINE_DEFAULTS: Mapping[str, float] = {
    "max_num_seqs": 256,
    "max_num_batched_tokens": 2048,
    "step_base_ms": 5.75,
    "prefill_ms_per_token": 0.01725,
    "decode_ms_per_seq": 0.006,
    "kv_capacity_tokens": 0,
}
HOURS_PER_DAY = 24.0
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class EngineFigures:
    max_num_seqs: int
    max_num_batched_tokens: int
    step_base_ms: float
    prefill_ms_per_token: float
    decode_ms_per_seq: float
    kv_capacity_tokens: int


def engine_figures(engine: Mapping[str, Any]) -> EngineFigures:
    """A profile's ``[engine]`` table (missing keys: the mock's defaults); ``ValueError`` on a
    value that is not a number."""
    values: dict[str, float] = {}
    for key, default in ENGINE_DEFAULTS.items():
        raw = engine.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
            raise ValueError(f"engine.{key}: {raw!r} is not a number >= 0")
        values[key] = float(raw)
    return EngineFigures(
        max_num_seqs=max(1, int(values["max_num_seqs"])),
        max_num_batched_tokens=max(1, int(values["max_num_batched_tokens"])),
        step_base_ms=values["step_base_ms"],
        prefill_ms_per_token=values["prefill_ms_per_token"],
        decode_ms_per_seq=values["decode_ms_per_seq"],
        kv_capacity_tokens=int(values["kv_capacity_tokens"]),
    )


def gpus_in_name(name: str) -> int | None:
    """GPUs a profile's name says it spans (``...-tp8``: 8), None when it does not say."""
    found = re.search(r"(?:^|-)tp(\d+)(?:-|$)", name)
    return int(found.group(1)) if found else None


def modelled_rps(
    engine: EngineFigures,
    prompt_tokens: float,
    uncached_prompt_tokens: float,
    completion_tokens: float,
) -> float:
    """Requests per second one replica serves at full batch (the module docstring's ``X``)."""
    output = max(completion_tokens, 1.0)
    prefill = max(uncached_prompt_tokens, 1.0)
    slots = float(engine.max_num_seqs)
    if engine.kv_capacity_tokens > 0:
        slots = max(
            1.0, min(slots, math.floor(engine.kv_capacity_tokens / (prompt_tokens + output)))
        )
    steps = max(output / slots, (output - 1.0 + prefill) / engine.max_num_batched_tokens)
    seconds = (
        steps * engine.step_base_ms
        + engine.decode_ms_per_seq * (output - 1.0)
        + engine.prefill_ms_per_token * prefill
    ) / 1000.0
    return math.inf if seconds <= 0 else 1.0 / seconds


def replicas_for(rps: float, replica_rps: float) -> int:
    """Replicas needed to carry ``rps`` (at least one: a service that exists runs one)."""
    return max(1, math.ceil(rps / replica_rps - 1e-9))


def self_hosted(
    requests_per_day: float,
    cost_per_request_usd: float,
    replica_rps: float,
    replica_usd_per_hour: float,
) -> dict[str, Any]:
    """API against self-hosted cost of a daily volume, and the break-even volume.

    Self-hosting costs whole replicas for the whole day; the API costs per request. The
    break-even is the daily volume at which one replica costs what the API bills; it exists
    only when a fully used replica serves a request for less than the API bills for it.
    """
    rps = requests_per_day / (HOURS_PER_DAY * SECONDS_PER_HOUR)
    replicas = replicas_for(rps, replica_rps)
    replica_day_usd = replica_usd_per_hour * HOURS_PER_DAY
    full_use_usd = replica_usd_per_hour / (SECONDS_PER_HOUR * replica_rps)
    break_even = (
        replica_day_usd / cost_per_request_usd
        if cost_per_request_usd > full_use_usd and cost_per_request_usd > 0
        else None
    )
    return {
        "replica_rps": replica_rps,
        "replica_usd_per_hour": replica_usd_per_hour,
        "replicas": replicas,
        "utilisation": rps / (replicas * replica_rps),
        "self_hosted_daily_usd": replicas * replica_day_usd,
        "api_daily_usd": requests_per_day * cost_per_request_usd,
        "self_hosted_usd_per_request_at_full_use": full_use_usd,
        "break_even_requests_per_day": break_even,
        "break_even_rps": None if break_even is None else break_even / 86_400.0,
    }
