"""The ``stream`` workload: a StreamWorkload config and a session's RNG in, one planned
request (a single user message) out."""

from __future__ import annotations

import numpy as np

from harness.records import PlannedMessage, PlannedRequest
from harness.scenario import StreamWorkload
from workloads.distributions import sample_int
from workloads.registry import register
from workloads.session import SessionContext, Turn


@register("stream")
def build_stream_session(
    cfg: StreamWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """One independent request: a fresh user message of ``prompt_tokens``."""
    prompt_tokens = sample_int(cfg.prompt_tokens, rng)
    max_tokens = sample_int(cfg.max_tokens, rng)
    message = PlannedMessage(role="user", tokens=prompt_tokens, seed=ctx.unique_seed(1, 0))
    return ctx.requests([Turn(messages=(message,), think_s=0.0, max_tokens=max_tokens)])
