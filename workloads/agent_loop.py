"""The ``agent_loop`` workload: an AgentLoopWorkload config and a session's RNG in, the
planned turns of one tool-calling agent (and of its sub-agents, if configured) out.

Turn 1 sends the shared system prompt (one seed per workload: a cacheable prefix) and the
task; each later turn adds one tool output after the tool's run time, so the context only
ever grows, unless ``context_window_tokens`` is set (``workloads.context_window``). Tool
outputs have role "user": a plan holds no tool-call ids to answer, so they travel as plain
user content, which costs the same prompt tokens. Sub-agent fan-out is
``workloads.subagents``.
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
from workloads.session import SessionContext, Turn
from workloads.subagents import SUBAGENT_SYSTEM_SLOT, Subagents, fan_out


class AgentLoopWorkload(WorkloadBase, ContextWindowSettings):
    """An agent: system prompt + task, then tool-call turns whose outputs grow the context;
    optionally fanning out to sub-agents (``subagents``; off by default)."""

    kind: Literal["agent_loop"]
    system_prompt_tokens: int = Field(default=1500, ge=0)
    task_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=300, sigma=0.8)
    )
    turns: DistSpec = Field(default_factory=lambda: Dist(dist="geometric", mean=6, max=30))
    tool_output_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=400, sigma=1.0)
    )
    tool_latency: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=0.5, sigma=0.7)
    )
    subagents: Subagents | None = None


def agent_turns(
    ctx: SessionContext,
    rng: np.random.Generator,
    *,
    turns: Dist,
    system_prompt_tokens: int,
    system_seed: int,
    task_tokens: Dist,
    tool_output_tokens: Dist,
    tool_latency: Dist,
    max_tokens: Dist,
) -> list[Turn]:
    """The turns of one agent: system prompt and task, then ``turns - 1`` tool outputs, each
    ``tool_latency`` after the answer before it."""
    turn_count = max(sample_int(turns, rng), 1)
    first: list[PlannedMessage] = []
    if system_prompt_tokens > 0:
        first.append(PlannedMessage(role="system", tokens=system_prompt_tokens, seed=system_seed))
    task = sample_int(task_tokens, rng)
    first.append(PlannedMessage(role="user", tokens=task, seed=ctx.unique_seed(1, len(first))))
    planned = [Turn(messages=tuple(first), think_s=0.0, max_tokens=sample_int(max_tokens, rng))]
    for turn_number in range(2, turn_count + 1):
        tool_tokens = sample_int(tool_output_tokens, rng)
        tool_output = PlannedMessage(
            role="user", tokens=tool_tokens, seed=ctx.unique_seed(turn_number, 0)
        )
        # think_s is the tool's run time: the next request waits for the tool, not a human.
        think_s = sample_duration_s(tool_latency, rng)
        planned.append(
            Turn(messages=(tool_output,), think_s=think_s, max_tokens=sample_int(max_tokens, rng))
        )
    return planned


def build_agent_session(
    cfg: AgentLoopWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """A task followed by ``turns - 1`` tool results, each ``tool_latency`` after the answer;
    with ``subagents``, the sub-agent sessions its turns spawn follow its own requests."""
    turns = agent_turns(
        ctx,
        rng,
        turns=cfg.turns,
        system_prompt_tokens=cfg.system_prompt_tokens,
        system_seed=ctx.shared_seed(0),
        task_tokens=cfg.task_tokens,
        tool_output_tokens=cfg.tool_output_tokens,
        tool_latency=cfg.tool_latency,
        max_tokens=cfg.max_tokens,
    )
    sub = cfg.subagents
    if sub is None:
        return ctx.requests(fit_to_window(turns, cfg, ctx))

    def sub_agent(sub_ctx: SessionContext, sub_rng: np.random.Generator) -> list[Turn]:
        return agent_turns(
            sub_ctx,
            sub_rng,
            turns=sub.turns,
            system_prompt_tokens=sub.system_prompt_tokens,
            system_seed=ctx.shared_seed(SUBAGENT_SYSTEM_SLOT),
            task_tokens=sub.task_tokens,
            tool_output_tokens=sub.tool_output_tokens,
            tool_latency=sub.tool_latency or cfg.tool_latency,
            max_tokens=cfg.max_tokens,
        )

    return fan_out(turns, cfg, cfg.subagents, ctx, sub_agent)
