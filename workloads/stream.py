"""The ``stream`` workload: a StreamWorkload config and a session's RNG in, one planned
request (a single user message) out."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from harness.contract.distributions import Dist, DistSpec, Share
from harness.contract.records import PlannedRequest
from workloads.distributions import sample_int
from workloads.kind_base import WorkloadBase
from workloads.repeats import Repeatable
from workloads.session import SessionContext, Turn


class StreamWorkload(WorkloadBase, Repeatable):
    """Independent single requests; ``shared_prefix_share`` of each prompt is a prefix every
    session of the workload shares."""

    kind: Literal["stream"]
    prompt_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=512, sigma=0.6)
    )
    shared_prefix_share: Share = 0.0


def build_stream_session(
    cfg: StreamWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """One independent request: a user prompt of ``prompt_tokens``, of which
    ``shared_prefix_share`` is a prefix every session shares."""
    prompt_tokens = sample_int(cfg.prompt_tokens, rng)
    max_tokens = sample_int(cfg.max_tokens, rng)
    messages = ctx.prompt(prompt_tokens, cfg.shared_prefix_share, turn=1)
    return ctx.requests([Turn(messages=messages, think_s=0.0, max_tokens=max_tokens)])
