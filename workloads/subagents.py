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

from harness.records import PlannedMessage, PlannedRequest
from harness.scenario import AgentLoopWorkload
from workloads import seeds
from workloads.context_window import fit_to_window
from workloads.distributions import sample_int
from workloads.session import SessionContext, Turn

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
    turns: list[Turn], cfg: AgentLoopWorkload, ctx: SessionContext, build: SubagentBuilder
) -> list[PlannedRequest]:
    """The parent's requests, then each spawned sub-agent's (see the module docstring).

    Only a turn with a next turn spawns: the next turn is the one that waits.
    """
    sub = cfg.subagents
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
