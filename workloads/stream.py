"""The ``stream`` workload: a StreamWorkload config and a session's RNG in, one planned
request (a single user message) out."""

from __future__ import annotations

import numpy as np

from harness.records import PlannedRequest
from harness.scenario import StreamWorkload
from workloads.distributions import sample_int
from workloads.registry import register
from workloads.session import SessionContext, Turn


@register("stream")
def build_stream_session(
    cfg: StreamWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """One independent request: a user prompt of ``prompt_tokens``, of which
    ``shared_prefix_share`` is a prefix every session shares."""
    prompt_tokens = sample_int(cfg.prompt_tokens, rng)
    max_tokens = sample_int(cfg.max_tokens, rng)
    messages = ctx.prompt(prompt_tokens, cfg.shared_prefix_share, turn=1)
    return ctx.requests([Turn(messages=messages, think_s=0.0, max_tokens=max_tokens)])
