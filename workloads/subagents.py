"""Sub-agent fan-out: an agent session's turns, its ``subagents`` config and a sub-agent
builder in, the parent's planned requests and those of every sub-agent session it spawns out.

A spawning turn's answer stands for the call that starts the sub-agents; the parent's next
turn carries their results (one message each, in place of a tool output) and waits for all of
them (``waits_for``). Each sub-agent is a session of its own (``spawned_by`` names the
spawning turn) whose ``offset_s`` starts at that turn's: the earliest it can start. The
parent's later offsets move so that a waiting turn is never planned before the last turn of
a sub-agent it waits for. Spawn decisions and sub-agent sizes draw from their own RNG stream,
so switching fan-out on leaves the parent's own draws as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, Field, model_validator

from harness.contract.distributions import Dist, DistSpec, Share
from harness.contract.records import PlannedMessage, PlannedRequest
from workloads import seeds
from workloads.context_window import fit_to_window
from workloads.distributions import sample_int
from workloads.kind_base import ContextWindowSettings
from workloads.session import SessionContext, Turn


class Subagents(BaseModel):
    """Sub-agent fan-out of an agent loop (the ``[workload.subagents]`` table).

    A turn that has a next turn spawns sub-agents with ``probability`` (each such turn drawn
    on its own), or on every ``every_turns``-th turn; give one of the two. It spawns ``count``
    of them, each an agent session of its own (``turns`` turns, a system prompt shared by all
    sub-agents of the workload, its own task and tool outputs), started when the spawning
    turn has finished. The parent's next turn waits for all of them, then adds one message of
    ``result_tokens`` per sub-agent. ``tool_latency`` unset: the parent's.
    """

    probability: Share = 0.0
    every_turns: int | None = Field(default=None, ge=1)
    count: DistSpec = Field(default_factory=lambda: Dist(dist="constant", value=2))
    turns: DistSpec = Field(default_factory=lambda: Dist(dist="geometric", mean=3, max=10))
    system_prompt_tokens: int = Field(default=800, ge=0)
    task_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=200, sigma=0.6)
    )
    tool_output_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=300, sigma=1.0)
    )
    tool_latency: DistSpec | None = None
    result_tokens: DistSpec = Field(
        default_factory=lambda: Dist(dist="lognormal", median=300, sigma=0.6)
    )

    @model_validator(mode="after")
    def _one_trigger(self) -> Subagents:
        if (self.probability > 0) == (self.every_turns is not None):
            raise ValueError("give subagents either probability > 0 or every_turns, not both")
        return self


#: The shared-seed slot of the system prompt all sub-agents of a workload share.
SUBAGENT_SYSTEM_SLOT = 2
#: Message slots of the sub-agents' results in the waiting turn (one per sub-agent).
RESULT_SLOT_BASE = 2000

#: Builds one sub-agent's turns from its session context and an RNG.
SubagentBuilder = Callable[[SessionContext, np.random.Generator], list[Turn]]


def _spawns_at(
    every_turns: int | None, probability: float, turn: int, rng: np.random.Generator
) -> bool:
    if every_turns is not None:
        return turn % every_turns == 0
    return bool(rng.random() < probability)


def subagent_session_id(parent_session_id: str, turn: int, index: int) -> str:
    """The session id of sub-agent ``index`` spawned by turn ``turn`` of a session."""
    return f"{parent_session_id}-sub{turn}-{index}"


def fan_out(
    turns: list[Turn],
    cfg: ContextWindowSettings,
    sub: Subagents | None,
    ctx: SessionContext,
    build: SubagentBuilder,
) -> list[PlannedRequest]:
    """The parent's requests, then each spawned sub-agent's (see the module docstring).

    Only a turn with a next turn spawns: the next turn is the one that waits.
    """
    if sub is None:
        return ctx.requests(fit_to_window(turns, cfg, ctx))
    rng = seeds.rng_stream(ctx.seed, seeds.SUBAGENTS, ctx.session_index)
    parent = list(turns)
    spawned: dict[int, list[tuple[SessionContext, list[Turn]]]] = {}
    for number in range(1, len(turns)):
        if not _spawns_at(sub.every_turns, sub.probability, number, rng):
            continue
        children: list[tuple[SessionContext, list[Turn]]] = []
        results: list[PlannedMessage] = []
        for index in range(sample_int(sub.count, rng)):
            child_ctx = dataclasses.replace(
                ctx,
                session_id=subagent_session_id(ctx.session_id, number, index),
                spawned_by=f"{ctx.session_id}-t{number}",
                branch=(number, index),
            )
            children.append((child_ctx, fit_to_window(build(child_ctx, rng), cfg, child_ctx)))
            results.append(
                PlannedMessage(
                    role="user",
                    tokens=sample_int(sub.result_tokens, rng),
                    seed=ctx.unique_seed(number + 1, RESULT_SLOT_BASE + index),
                )
            )
        if not children:
            continue
        spawned[number] = children
        # The sub-agents were the tool: their results replace its output and its run time.
        parent[number] = dataclasses.replace(
            parent[number],
            messages=tuple(results),
            think_s=0.0,
            waits_for=tuple(child_ctx.session_id for child_ctx, _ in children),
        )
    return _placed(ctx.requests(fit_to_window(parent, cfg, ctx)), ctx, spawned)


def _placed(
    parent: list[PlannedRequest],
    ctx: SessionContext,
    spawned: dict[int, list[tuple[SessionContext, list[Turn]]]],
) -> list[PlannedRequest]:
    """Earliest offsets: sub-agents start with their spawning turn; a waiting turn follows
    the last planned turn of every sub-agent it waits for."""
    placed: list[PlannedRequest] = []
    children: list[PlannedRequest] = []
    last_s: dict[str, float] = {}
    previous_s = ctx.start_s
    for request in parent:
        offset_s = previous_s
        if request.turn > 1:
            ready_s = max((last_s[session] for session in request.waits_for), default=offset_s)
            offset_s = max(offset_s, ready_s) + request.think_s
        placed.append(
            request
            if offset_s == request.offset_s
            else dataclasses.replace(request, offset_s=offset_s)
        )
        previous_s = offset_s
        for child_ctx, child_turns in spawned.get(request.turn, []):
            requests = dataclasses.replace(child_ctx, start_s=offset_s).requests(child_turns)
            last_s[child_ctx.session_id] = requests[-1].offset_s
            children.extend(requests)
    return placed + children
