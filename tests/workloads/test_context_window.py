"""Context growth: without a window an agent's context never shrinks; with one, each turn fits
it (when it can), keeps its system prompt, and truncates or summarises as configured."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.records import PlannedRequest
from workloads.agent_loop import AgentLoopWorkload
from workloads.chat import ChatWorkload
from workloads.context_window import context_tokens
from workloads.kinds import builder_for
from workloads.session import SessionContext

CONTEXT = SessionContext(
    session_id="s000001",
    session_index=1,
    start_s=0.0,
    api="openai-chat",
    model="m",
    stream=True,
    seed=9,
    workload_index=0,
    workload_name="w",
    tags={"workload": "w"},
)


def _agent(config: dict[str, Any], seed: int) -> list[PlannedRequest]:
    cfg = AgentLoopWorkload.model_validate(
        {
            "kind": "agent_loop",
            "turns": {"dist": "constant", "value": 12},
            "tool_output_tokens": {"dist": "lognormal", "median": 800, "sigma": 1.0},
            "max_tokens": {"dist": "uniform", "min": 50, "max": 400},
            **config,
        }
    )
    return builder_for("agent_loop")(cfg, CONTEXT, np.random.default_rng(seed))


windows = st.integers(min_value=3000, max_value=20000)
seeds = st.integers(min_value=0, max_value=2**32)


@settings(max_examples=40, deadline=None)
@given(seeds)
def test_without_a_window_an_agent_context_never_shrinks(seed: int) -> None:
    plan = _agent({}, seed)
    sizes = context_tokens(plan)
    assert all(later >= earlier for earlier, later in itertools.pairwise(sizes))
    assert all(request.resend_history for request in plan)
    prompts = [request.prompt_tokens for request in plan]
    assert prompts == sorted(prompts)


@settings(max_examples=40, deadline=None)
@given(windows, st.sampled_from(["truncate", "summarize"]), st.integers(0, 2000), seeds)
def test_with_a_window_every_turn_that_can_fit_does(
    window: int, mode: str, system: int, seed: int
) -> None:
    config = {
        "context_window_tokens": window,
        "on_overflow": mode,
        "system_prompt_tokens": system,
        "summary_tokens": 300,
    }
    plan = _agent(config, seed)
    unbounded = _agent({"system_prompt_tokens": system}, seed)
    # The window changes what is sent, never the turns, their sizes or their timing.
    assert [(r.offset_s, r.max_tokens) for r in plan] == [
        (r.offset_s, r.max_tokens) for r in unbounded
    ]
    summary = 300 if mode == "summarize" else 0
    for request, size, alone in zip(plan, context_tokens(plan), unbounded, strict=True):
        own = sum(m.tokens for m in alone.messages) + (0 if alone.turn == 1 else system)
        if own + summary + request.max_tokens <= window:
            assert size + request.max_tokens <= window
        if not request.resend_history:
            # The whole context is listed: system prompt first, this turn's messages last.
            assert request.messages[-len(alone.messages) :] == alone.messages
            if system:
                assert request.messages[0] == unbounded[0].messages[0]
            roles = [m.role for m in request.messages]
            assert roles.count("user") - len(alone.messages) >= roles.count("assistant")
            summaries = [m for m in request.messages if m.tokens == 300 and m.role == "user"]
            if mode == "summarize":
                assert summaries


def test_overflow_truncates_only_when_configured_and_summary_replaces_history() -> None:
    base = {
        "system_prompt_tokens": 1000,
        "task_tokens": 500,
        "tool_output_tokens": 2000,
        "max_tokens": 100,
        "turns": {"dist": "constant", "value": 10},
    }
    cfg = AgentLoopWorkload.model_validate({"kind": "agent_loop", **base})
    grown = builder_for("agent_loop")(cfg, CONTEXT, np.random.default_rng(0))
    assert max(context_tokens(grown)) > 8000
    for mode in ("truncate", "summarize"):
        bounded = cfg.model_copy(
            update={"context_window_tokens": 8000, "on_overflow": mode, "summary_tokens": 700}
        )
        plan = builder_for("agent_loop")(bounded, CONTEXT, np.random.default_rng(0))
        sizes = context_tokens(plan)
        assert max(sizes) + 100 <= 8000 and min(sizes[1:]) > 0
        assert any(not request.resend_history for request in plan)
        resets = [request for request in plan if not request.resend_history]
        roles = [m.role for m in resets[0].messages]
        assert roles[0] == "system"
        has_summary = resets[0].messages[1].tokens == 700
        assert has_summary == (mode == "summarize")
        # What is planned as sent matches the prompt tokens the plan reports.
        assert [r.prompt_tokens for r in resets] == [
            sum(m.tokens for m in r.messages) for r in resets
        ]


def test_chat_context_is_bounded_too() -> None:
    cfg = ChatWorkload.model_validate(
        {
            "kind": "chat",
            "turns": {"dist": "constant", "value": 30},
            "prompt_tokens": 300,
            "max_tokens": 200,
            "context_window_tokens": 4000,
            "on_overflow": "truncate",
        }
    )
    plan = builder_for("chat")(cfg, CONTEXT, np.random.default_rng(1))
    sizes = context_tokens(plan)
    assert len(plan) == 30 and max(sizes) + 200 <= 4000
    assert sizes[-1] < sum(m.tokens for r in plan[:1] for m in r.messages) + 29 * 500
