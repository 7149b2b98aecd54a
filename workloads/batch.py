"""The ``batch`` workload: a BatchWorkload config and a session's RNG in, the independent
requests of one offline job out.

Each request is its own one-turn session (``<job>-r<n>``), so the engine sends each at its
offset without waiting for the others' answers, as a job runner with a work queue does.
Requests carry ``class = "batch"`` unless the workload's tags name a class.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from pydantic import Field

from harness.contract.distributions import Dist, DistSpec, Share
from harness.contract.records import PlannedRequest
from workloads.distributions import sample_duration_s, sample_int
from workloads.kind_base import WorkloadBase
from workloads.session import SessionContext, Turn


class BatchWorkload(WorkloadBase):
    """An offline job: ``requests`` independent, latency-tolerant requests submitted
    ``spacing`` apart, tagged ``class = "batch"`` unless the tags say otherwise."""

    kind: Literal["batch"]
    requests: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=20))
    spacing: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=0.05))
    prompt_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=800, sigma=0.8)
    )
    shared_prefix_share: Share = 0.0
    max_tokens: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=512))


def build_batch_job(
    cfg: BatchWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """``requests`` single-turn sessions, submitted ``spacing`` apart from the job's start."""
    count = max(sample_int(cfg.requests, rng), 1)
    tags = {"class": "batch", **ctx.tags}
    plan: list[PlannedRequest] = []
    start_s = ctx.start_s
    for index in range(count):
        if index > 0:
            start_s += sample_duration_s(cfg.spacing, rng)
        request_ctx = dataclasses.replace(
            ctx, session_id=f"{ctx.session_id}-r{index:04d}", start_s=start_s, tags=tags
        )
        prompt_tokens = sample_int(cfg.prompt_tokens, rng)
        max_tokens = sample_int(cfg.max_tokens, rng)
        # Unique text per request: turn numbers are free here, one per request of the job.
        messages = ctx.prompt(prompt_tokens, cfg.shared_prefix_share, turn=index + 1)
        plan.extend(
            request_ctx.requests([Turn(messages=messages, think_s=0.0, max_tokens=max_tokens)])
        )
    return plan
