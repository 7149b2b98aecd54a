"""Sub-agent fan-out in the plan: deterministic, counts as configured, sub-agents start with
their spawning turn, the next parent turn waits for them, contexts never shrink."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.contract.records import PlannedRequest, read_jsonl, to_json_line, write_jsonl
from workloads.agent_loop import AgentLoopWorkload
from workloads.context_window import context_tokens
from workloads.kinds import builder_for
from workloads.planner import build_plan
from workloads.preview import preview, render_text
from workloads.scenario import parse_scenario
from workloads.session import SessionContext

CONTEXT = SessionContext(
    session_id="s000004",
    session_index=4,
    start_s=2.0,
    api="openai-chat",
    model="m",
    stream=True,
    seed=5,
    workload_index=0,
    workload_name="w",
    tags={"workload": "w"},
)


def _agent(seed: int, **config: Any) -> list[PlannedRequest]:
    cfg = AgentLoopWorkload.model_validate({"kind": "agent_loop", **config})
    return builder_for("agent_loop")(cfg, CONTEXT, np.random.default_rng(seed))


def _sessions(plan: list[PlannedRequest]) -> dict[str, list[PlannedRequest]]:
    sessions: defaultdict[str, list[PlannedRequest]] = defaultdict(list)
    for request in plan:
        sessions[request.session_id].append(request)
    return {sid: sorted(turns, key=lambda r: r.turn) for sid, turns in sessions.items()}


def _fan_out(turns: int, every: int, count: int, sub_turns: int) -> dict[str, Any]:
    return {
        "turns": turns,
        "subagents": {
            "every_turns": every,
            "count": count,
            "turns": sub_turns,
            "tool_latency": "0.3s",
        },
    }


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(1, 4),
    st.integers(0, 4),
    st.integers(1, 5),
    st.integers(0, 2**32),
)
def test_every_nth_turn_spawns_count_subagents_and_the_next_turn_waits(
    turns: int, every: int, count: int, sub_turns: int, seed: int
) -> None:
    plan = _agent(seed, **_fan_out(turns, every, count, sub_turns))
    sessions = _sessions(plan)
    parent = sessions.pop(CONTEXT.session_id)
    spawning = [n for n in range(1, turns) if n % every == 0] if count else []
    assert len(parent) == turns and len(sessions) == count * len(spawning)
    by_request = {request.request_id: request for request in plan}
    for session_id, child in sessions.items():
        assert len(child) == sub_turns
        assert {r.spawned_by for r in child} == {child[0].spawned_by}
        spawner = by_request[child[0].spawned_by]
        assert spawner.session_id == CONTEXT.session_id and spawner.turn in spawning
        assert child[0].offset_s == spawner.offset_s  # the earliest it can start
        assert all(not r.waits_for for r in child)
        waiting = parent[spawner.turn]  # the spawner's next turn
        assert session_id in waiting.waits_for
        assert waiting.offset_s >= child[-1].offset_s
    for request in parent:
        expected = spawning.count(request.turn - 1) * count
        assert len(request.waits_for) == expected
        if expected:  # the sub-agents' results, one each, in place of the tool output
            assert len(request.messages) == count and request.think_s == 0.0
    assert all(not r.spawned_by for r in parent)
    offsets = [r.offset_s for r in parent]
    assert offsets == sorted(offsets)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.0, 1.0), st.integers(0, 2**32))
def test_fan_out_leaves_the_parents_own_draws_alone(probability: float, seed: int) -> None:
    config = {"turns": 6, "subagents": {"probability": max(probability, 0.01), "count": 2}}
    fanned = [r for r in _agent(seed, **config) if not r.spawned_by]
    alone = _agent(seed, turns=6)
    assert [r.request_id for r in fanned] == [r.request_id for r in alone]
    for with_fan_out, without in zip(fanned, alone, strict=True):
        assert with_fan_out.max_tokens == without.max_tokens
        if not with_fan_out.waits_for:
            assert with_fan_out.messages == without.messages
            assert with_fan_out.think_s == without.think_s


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32))
def test_no_session_context_shrinks_without_a_window(seed: int) -> None:
    config: dict[str, Any] = {
        "turns": {"dist": "uniform", "min": 2, "max": 10},
        "subagents": {
            "probability": 0.5,
            "count": {"dist": "uniform", "min": 1, "max": 4},
            "turns": {"dist": "geometric", "mean": 3},
        },
    }
    for turns in _sessions(_agent(seed, **config)).values():
        sizes = context_tokens(turns)
        assert all(later >= earlier for earlier, later in itertools.pairwise(sizes))
        assert all(request.resend_history for request in turns)


def test_the_context_window_bounds_subagents_too() -> None:
    plan = _agent(
        2,
        turns=3,
        max_tokens=100,
        context_window_tokens=5000,
        subagents={
            "every_turns": 1,
            "count": 2,
            "turns": 12,
            "system_prompt_tokens": 500,
            "tool_output_tokens": 900,
        },
    )
    children = [turns for sid, turns in _sessions(plan).items() if sid != CONTEXT.session_id]
    assert len(children) == 4
    for turns in children:
        assert max(context_tokens(turns)) + 100 <= 5000
        assert any(not request.resend_history for request in turns)


def test_subagents_share_their_system_prompt_and_nothing_else() -> None:
    plan = _agent(1, **_fan_out(5, 1, 3, 2))
    children = [turns for sid, turns in _sessions(plan).items() if sid != CONTEXT.session_id]
    systems = {turns[0].messages[0] for turns in children}
    assert len(children) == 12 and len(systems) == 1
    assert next(iter(systems)).role == "system"
    assert next(iter(systems)) != plan[0].messages[0]  # not the parent's system prompt
    own = [m.seed for turns in children for r in turns for m in r.messages if m.role != "system"]
    parent_seeds = {m.seed for r in plan if not r.spawned_by for m in r.messages}
    assert len(own) == len(set(own)) and not set(own) & parent_seeds


def _scenario(seed: int, **subagents: Any) -> Any:
    return parse_scenario(
        {
            "seed": seed,
            "duration": "20s",
            "arrival": {"rate": 2},
            "workload": [
                {
                    "kind": "agent_loop",
                    "turns": {"dist": "geometric", "mean": 4},
                    "subagents": subagents or {"probability": 0.4},
                },
                {"kind": "chat"},
            ],
        }
    )


@settings(max_examples=15, deadline=None)
@given(st.integers(-(2**40), 2**40))
def test_plans_with_fan_out_are_deterministic_and_round_trip(seed: int) -> None:
    plan = build_plan(_scenario(seed))
    again = build_plan(_scenario(seed))
    assert b"".join(map(to_json_line, plan)) == b"".join(map(to_json_line, again))
    offsets = [request.offset_s for request in plan]
    assert offsets == sorted(offsets)
    assert len({r.request_id for r in plan}) == len(plan)


def test_fan_out_fields_are_written_only_when_set(tmp_path: Path) -> None:
    plan = build_plan(_scenario(3, every_turns=1))
    assert any(r.waits_for for r in plan) and any(r.spawned_by for r in plan)
    path = tmp_path / "plan.jsonl"
    write_jsonl(path, plan)
    assert list(read_jsonl(path, PlannedRequest)) == plan
    for request, line in zip(plan, path.read_bytes().splitlines(), strict=True):
        assert (b'"spawned_by"' in line) == bool(request.spawned_by or request.waits_for)


def test_preview_counts_subagent_sessions() -> None:
    plan = build_plan(_scenario(8, every_turns=1, count=2))
    summary = preview(plan, 20.0)
    spawned = {r.session_id for r in plan if r.spawned_by}
    assert summary.subagent_sessions == len(spawned) > 0
    assert summary.sessions == len({r.session_id for r in plan})
    assert f"{len(spawned):,} of them sub-agents" in render_text(summary)
    plain = preview([r for r in plan if not r.spawned_by], 20.0)
    assert plain.subagent_sessions == 0 and "sub-agents" not in render_text(plain)


@pytest.mark.parametrize(
    "subagents, wrong",
    [
        ({}, "probability > 0 or every_turns"),
        ({"probability": 0.5, "every_turns": 2}, "not both"),
        ({"every_turns": 0}, "every_turns"),
        ({"probability": 1.5}, "probability"),
    ],
)
def test_a_subagents_table_needs_exactly_one_trigger(subagents: dict[str, Any], wrong: str) -> None:
    with pytest.raises(ValidationError, match=wrong):
        AgentLoopWorkload.model_validate({"kind": "agent_loop", "subagents": subagents})


def test_subagent_sizes_may_be_fitted_to_a_trace(tmp_path: Path) -> None:
    trace = tmp_path / "azure.csv"
    trace.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:50.9951690,396,109\n"
    )
    scenario = parse_scenario(
        {
            "seed": 1,
            "duration": "10s",
            "arrival": {"rate": 2},
            "workload": [
                {
                    "kind": "agent_loop",
                    "turns": 2,
                    "subagents": {
                        "every_turns": 1,
                        "count": 1,
                        "turns": 1,
                        "system_prompt_tokens": 0,
                        "task_tokens": {
                            "dist": "empirical",
                            "trace": str(trace),
                            "column": "prompt_tokens",
                        },
                    },
                }
            ],
        }
    )
    tasks = {request.messages[0].tokens for request in build_plan(scenario) if request.spawned_by}
    assert tasks and tasks <= {374, 396}
