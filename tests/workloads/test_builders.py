"""Session builders: what each workload kind puts in its turns, checked with constant configs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.distributions import Dist
from workloads.agent_loop import AgentLoopWorkload
from workloads.chat import ChatWorkload
from workloads.kinds import builder_for
from workloads.session import SessionContext
from workloads.stream import StreamWorkload


def _context(index: int = 3, workload_index: int = 0, start_s: float = 1.5) -> SessionContext:
    return SessionContext(
        session_id=f"s{index:06d}",
        session_index=index,
        start_s=start_s,
        api="openai-chat",
        model="m",
        stream=True,
        seed=42,
        workload_index=workload_index,
        workload_name="w",
        tags={"workload": "w"},
    )


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def _const(value: float) -> Dist:
    return Dist(dist="constant", value=value)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4000), st.integers(0, 4000), st.integers(0, 2**32))
def test_stream_is_one_user_message(prompt_tokens: int, max_tokens: int, seed: int) -> None:
    cfg = StreamWorkload(
        kind="stream", prompt_tokens=_const(prompt_tokens), max_tokens=_const(max_tokens)
    )
    [request] = builder_for("stream")(cfg, _context(), _rng(seed))
    assert request.turn == 1 and request.offset_s == 1.5 and request.think_s == 0.0
    assert [(m.role, m.tokens) for m in request.messages] == [("user", prompt_tokens)]
    assert request.prompt_tokens == prompt_tokens and request.max_tokens == max_tokens


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(0, 3000),
    st.integers(1, 500),
    st.floats(0.0, 30.0),
    st.integers(0, 2**32),
)
def test_chat_adds_one_user_message_per_turn(
    turns: int, system_tokens: int, user_tokens: int, think_s: float, seed: int
) -> None:
    cfg = ChatWorkload(
        kind="chat",
        turns=_const(turns),
        system_prompt_tokens=system_tokens,
        prompt_tokens=_const(user_tokens),
        think_time=_const(think_s),
    )
    plan = builder_for("chat")(cfg, _context(), _rng(seed))
    assert len(plan) == turns
    first_roles = [m.role for m in plan[0].messages]
    assert first_roles == (["system", "user"] if system_tokens > 0 else ["user"])
    assert plan[0].prompt_tokens == system_tokens + user_tokens
    for number, request in enumerate(plan[1:], start=2):
        assert [(m.role, m.tokens) for m in request.messages] == [("user", user_tokens)]
        assert request.think_s == think_s
        assert request.prompt_tokens == system_tokens + number * user_tokens


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(0, 3000),
    st.integers(1, 500),
    st.integers(0, 900),
    st.floats(0.0, 10.0),
    st.integers(0, 2**32),
)
def test_agent_loop_grows_by_tool_outputs_after_tool_latency(
    turns: int,
    system_tokens: int,
    task_tokens: int,
    tool_tokens: int,
    latency_s: float,
    seed: int,
) -> None:
    cfg = AgentLoopWorkload(
        kind="agent_loop",
        turns=_const(turns),
        system_prompt_tokens=system_tokens,
        task_tokens=_const(task_tokens),
        tool_output_tokens=_const(tool_tokens),
        tool_latency=_const(latency_s),
    )
    plan = builder_for("agent_loop")(cfg, _context(), _rng(seed))
    assert len(plan) == turns
    assert plan[0].messages[-1].tokens == task_tokens
    assert (plan[0].messages[0].role == "system") == (system_tokens > 0)
    for number, request in enumerate(plan[1:], start=2):
        assert [(m.role, m.tokens) for m in request.messages] == [("user", tool_tokens)]
        assert request.think_s == latency_s
        assert request.prompt_tokens == system_tokens + task_tokens + (number - 1) * tool_tokens


def test_system_prompt_seed_is_per_workload_and_user_seeds_per_session() -> None:
    cfg = ChatWorkload(kind="chat", turns=_const(2))
    build = builder_for("chat")
    a = build(cfg, _context(index=1), _rng(1))
    b = build(cfg, _context(index=2), _rng(2))
    other = build(cfg, _context(index=3, workload_index=1), _rng(3))
    assert a[0].messages[0] == b[0].messages[0]
    assert a[0].messages[0].seed != other[0].messages[0].seed
    user_seeds = {r.messages[-1].seed for r in (*a, *b, *other)}
    assert len(user_seeds) == 6


def test_turns_of_zero_still_plan_one_turn() -> None:
    cfg = ChatWorkload(kind="chat", turns=_const(0))
    assert len(builder_for("chat")(cfg, _context(), _rng(0))) == 1
