"""The ``agent_loop`` workload: an AgentLoopWorkload config and a session's RNG in, the
planned turns of one tool-calling agent out.

Turn 1 sends the shared system prompt (one seed per workload: a cacheable prefix) and the
task; each later turn adds one tool output after the tool's run time, so the context only
ever grows, unless ``context_window_tokens`` is set (``workloads.context_window``). Tool
outputs have role "user": a plan holds no tool-call ids to answer, so they travel as plain
user content, which costs the same prompt tokens.
"""

from __future__ import annotations

import numpy as np

from harness.records import PlannedMessage, PlannedRequest
from harness.scenario import AgentLoopWorkload
from workloads.context_window import fit_to_window
from workloads.distributions import sample_duration_s, sample_int
from workloads.registry import register
from workloads.session import SessionContext, Turn


@register("agent_loop")
def build_agent_session(
    cfg: AgentLoopWorkload, ctx: SessionContext, rng: np.random.Generator
) -> list[PlannedRequest]:
    """A task followed by ``turns - 1`` tool results, each ``tool_latency`` after the answer."""
    turn_count = max(sample_int(cfg.turns, rng), 1)
    first: list[PlannedMessage] = []
    if cfg.system_prompt_tokens > 0:
        first.append(
            PlannedMessage(role="system", tokens=cfg.system_prompt_tokens, seed=ctx.shared_seed(0))
        )
    task_tokens = sample_int(cfg.task_tokens, rng)
    task_seed = ctx.unique_seed(1, len(first))
    first.append(PlannedMessage(role="user", tokens=task_tokens, seed=task_seed))
    max_tokens = sample_int(cfg.max_tokens, rng)
    turns = [Turn(messages=tuple(first), think_s=0.0, max_tokens=max_tokens)]
    for turn_number in range(2, turn_count + 1):
        tool_tokens = sample_int(cfg.tool_output_tokens, rng)
        tool_output = PlannedMessage(
            role="user", tokens=tool_tokens, seed=ctx.unique_seed(turn_number, 0)
        )
        # think_s is the tool's run time: the next request waits for the tool, not a human.
        think_s = sample_duration_s(cfg.tool_latency, rng)
        max_tokens = sample_int(cfg.max_tokens, rng)
        turns.append(Turn(messages=(tool_output,), think_s=think_s, max_tokens=max_tokens))
    return ctx.requests(fit_to_window(turns, cfg, ctx))
