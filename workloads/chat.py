"""The ``chat`` workload: a ChatWorkload config and a session's RNG in, the planned turns of
one multi-turn conversation out.

Turn 1 sends the system prompt (seeded per workload, so every session shares it and a prefix
cache can reuse it) and a user message; each later turn adds one user message after a think
time, and re-sends the history.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from harness.contract.distributions import Dist, DistSpec
from harness.contract.records import PlannedMessage, PlannedRequest
from workloads.context_window import fit_to_window
from workloads.distributions import sample_duration_s, sample_int
from workloads.kind_base import ContextWindowSettings, WorkloadBase
from workloads.repeats import Repeatable
from workloads.session import SessionContext, Turn


class ChatWorkload(WorkloadBase, ContextWindowSettings, Repeatable):
    """Multi-turn chat: each turn re-sends the history plus a new user message."""

    kind: Literal["chat"]
    system_prompt_tokens: int = Field(default=200, ge=0)
    prompt_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=120, sigma=0.7)
    )
    turns: DistSpec = Field(default_factory=lambda: Dist(dist="geometric", mean=3, max=20))
    think_time: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=2.0, sigma=0.6)
    )


def build_chat_session(
    cfg: ChatWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """A conversation of ``turns`` user messages, ``think_time`` apart."""
    turn_count = max(sample_int(cfg.turns, rng), 1)
    turns: list[Turn] = []
    for turn_number in range(1, turn_count + 1):
        messages: list[PlannedMessage] = []
        if turn_number == 1 and cfg.system_prompt_tokens > 0:
            messages.append(
                PlannedMessage(
                    role="system", tokens=cfg.system_prompt_tokens, seed=ctx.shared_seed(0)
                )
            )
        user_tokens = sample_int(cfg.prompt_tokens, rng)
        messages.append(
            PlannedMessage(
                role="user", tokens=user_tokens, seed=ctx.unique_seed(turn_number, len(messages))
            )
        )
        max_tokens = sample_int(cfg.max_tokens, rng)
        think_s = sample_duration_s(cfg.think_time, rng) if turn_number > 1 else 0.0
        turns.append(Turn(messages=tuple(messages), think_s=think_s, max_tokens=max_tokens))
    return ctx.requests(fit_to_window(turns, cfg, ctx))
