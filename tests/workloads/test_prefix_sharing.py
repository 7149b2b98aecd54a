"""Shared prompt prefixes: the trie's figures against a token-by-token brute force, turns that
do not re-send their history counted as what they send, and the preview's shares built on them."""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.contract.records import PlannedMessage, PlannedRequest
from workloads import prefix_sharing
from workloads.agent_loop import AgentLoopWorkload
from workloads.kinds import builder_for
from workloads.planner import build_plan
from workloads.prefix_sharing import prefix_share
from workloads.preview import preview
from workloads.scenario import parse_scenario
from workloads.session import SessionContext

Token = tuple[Any, ...]


def _request(
    session: str, turn: int, offset_s: float, *messages: PlannedMessage, resend: bool = True
) -> PlannedRequest:
    return PlannedRequest(
        request_id=f"{session}-t{turn}",
        session_id=session,
        turn=turn,
        offset_s=offset_s,
        think_s=0.0,
        prompt_tokens=0,
        max_tokens=10,
        model="m",
        api="openai-chat",
        stream=True,
        messages=messages,
        resend_history=resend,
    )


def _brute_force(plan: list[PlannedRequest]) -> tuple[list[int], list[int], list[int]]:
    """Every prompt spelled out token by token (a message's role header and an answer are
    0-token items); shared tokens are the longest common prefix with the best other prompt."""
    spelled: list[list[Token]] = [[] for _ in plan]
    history: dict[str, list[Token]] = {}
    for index in sorted(range(len(plan)), key=lambda i: (plan[i].session_id, plan[i].turn)):
        request = plan[index]
        own = [
            token
            for m in request.messages
            for token in (
                ("header", m.role),
                *((m.role, m.seed, m.content, j) for j in range(m.tokens)),
            )
        ]
        if request.resend_history and request.session_id in history:
            spelled[index] = history[request.session_id] + own
        else:
            spelled[index] = own
        history[request.session_id] = [*spelled[index], ("answer", request.request_id)]

    def counted(tokens: list[Token]) -> int:
        return sum(1 for token in tokens if token[0] not in ("answer", "header"))

    def common(a: list[Token], b: list[Token]) -> int:
        length = 0
        while length < min(len(a), len(b)) and a[length] == b[length]:
            length += 1
        return counted(a[:length])

    cross = [
        max(
            (
                common(spelled[i], spelled[j])
                for j in range(len(plan))
                if plan[j].session_id != plan[i].session_id
            ),
            default=0,
        )
        for i in range(len(plan))
    ]
    earlier = [
        max((common(spelled[i], spelled[j]) for j in range(i)), default=0) for i in range(len(plan))
    ]
    return [counted(tokens) for tokens in spelled], cross, earlier


SYSTEM = PlannedMessage(role="system", tokens=100, seed=1)


def test_a_truncated_turn_shares_only_what_it_sends() -> None:
    plan = [
        _request("a", 1, 0.0, SYSTEM, PlannedMessage(role="user", tokens=50, seed=2)),
        _request("b", 1, 0.5, SYSTEM, PlannedMessage(role="user", tokens=60, seed=5)),
        _request("a", 2, 1.0, PlannedMessage(role="user", tokens=40, seed=3)),
        # Truncated: turn 1 dropped, turn 2 kept with a stand-in for its answer.
        _request(
            "a",
            3,
            2.0,
            SYSTEM,
            PlannedMessage(role="user", tokens=40, seed=3),
            PlannedMessage(role="assistant", tokens=30, seed=9),
            PlannedMessage(role="user", tokens=20, seed=4),
            resend=False,
        ),
        _request("a", 4, 3.0, PlannedMessage(role="user", tokens=10, seed=6)),
    ]
    shares = prefix_share(plan)
    assert shares.prompt_tokens == (150, 160, 190, 190, 200)
    assert shares.cross_session_tokens == (100, 100, 100, 100, 100)
    # b repeats a's system prompt; a-t2 repeats a-t1; the truncated turn only the system
    # prompt; a-t4 repeats the truncated turn's whole prompt.
    assert shares.earlier_tokens == (0, 100, 150, 100, 190)
    assert tuple(map(list, _brute_force(plan))) == tuple(
        map(list, (shares.prompt_tokens, shares.cross_session_tokens, shares.earlier_tokens))
    )
    summary = preview(plan, 4.0)
    assert math.isclose(summary.shared_prefix_prompt_share, 500 / 890)
    assert math.isclose(summary.prefix_reuse_prompt_share, 540 / 890)
    # Re-listed messages count once per session: a sends 100 + 50 + 40 + 30 + 20 + 10.
    assert math.isclose(summary.shared_prefix_share, 200 / (250 + 160))


def test_same_seed_messages_of_other_sizes_share_the_smaller_size() -> None:
    def shared(tokens: int) -> PlannedMessage:
        return PlannedMessage(role="user", tokens=tokens, seed=7)

    plan = [
        _request("a", 1, 0.0, shared(30), PlannedMessage(role="user", tokens=5, seed=8)),
        _request("b", 1, 1.0, shared(45), PlannedMessage(role="user", tokens=5, seed=9)),
    ]
    shares = prefix_share(plan)
    assert shares.cross_session_tokens == (30, 30) and shares.earlier_tokens == (0, 30)


messages = st.builds(
    PlannedMessage,
    role=st.sampled_from(["system", "user", "assistant"]),
    tokens=st.integers(0, 6),
    seed=st.integers(0, 3),
)


@st.composite
def plans(draw: st.DrawFn) -> list[PlannedRequest]:
    plan: list[PlannedRequest] = []
    for session in range(draw(st.integers(1, 4))):
        for turn in range(1, draw(st.integers(1, 4)) + 1):
            plan.append(
                _request(
                    f"s{session}",
                    turn,
                    draw(st.floats(0, 10)),
                    *draw(st.lists(messages, min_size=1, max_size=4)),
                    resend=turn == 1 or draw(st.booleans()),
                )
            )
    plan.sort(key=lambda r: (r.offset_s, r.session_id, r.turn))
    return plan


@settings(max_examples=200, deadline=None)
@given(plans(), st.sampled_from([prefix_sharing._SCAN_SIZES, 0]))
def test_the_trie_agrees_with_the_brute_force(plan: list[PlannedRequest], scan_sizes: int) -> None:
    # scan_sizes 0: every partial match goes through the sorted index, not the scan.
    with mock.patch.object(prefix_sharing, "_SCAN_SIZES", scan_sizes):
        shares = prefix_share(plan)
    sizes, cross, earlier = _brute_force(plan)
    assert list(shares.prompt_tokens) == sizes
    assert list(shares.cross_session_tokens) == cross
    assert list(shares.earlier_tokens) == earlier


@st.composite
def many_sizes(draw: st.DrawFn) -> list[PlannedRequest]:
    """Sessions whose prompts open with one shared-seed message of many sizes (a shared
    prefix share of varying prompts), some going on with a second turn."""
    plan: list[PlannedRequest] = []
    for session in range(draw(st.integers(2, 24))):
        head = PlannedMessage(role="user", tokens=draw(st.integers(0, 40)), seed=7)
        tail = PlannedMessage(
            role="user",
            tokens=draw(st.integers(1, 3)),
            seed=draw(st.sampled_from([8, 100 + session])),
        )
        plan.append(_request(f"s{session}", 1, draw(st.floats(0, 10)), head, tail))
        if draw(st.booleans()):
            again = PlannedMessage(role="user", tokens=draw(st.integers(0, 40)), seed=7)
            plan.append(
                _request(
                    f"s{session}", 2, draw(st.floats(0, 10)), again, resend=draw(st.booleans())
                )
            )
    plan.sort(key=lambda r: (r.offset_s, r.session_id, r.turn))
    return plan


@settings(max_examples=60, deadline=None)
@given(many_sizes())
def test_partial_matches_over_many_sizes_agree_with_the_brute_force(
    plan: list[PlannedRequest],
) -> None:
    shares = prefix_share(plan)
    sizes, cross, earlier = _brute_force(plan)
    assert (
        list(shares.prompt_tokens),
        list(shares.cross_session_tokens),
        list(shares.earlier_tokens),
    ) == (sizes, cross, earlier)


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


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["truncate", "summarize"]), st.integers(0, 2**32))
def test_windowed_sessions_are_counted_as_planned(mode: str, seed: int) -> None:
    cfg = AgentLoopWorkload.model_validate(
        {
            "kind": "agent_loop",
            "turns": 15,
            "tool_output_tokens": 900,
            "max_tokens": 100,
            "context_window_tokens": 5000,
            "on_overflow": mode,
        }
    )
    plan = builder_for("agent_loop")(cfg, CONTEXT, np.random.default_rng(seed))
    assert any(not request.resend_history for request in plan)
    shares = prefix_share(plan)
    assert list(shares.prompt_tokens) == [request.prompt_tokens for request in plan]
    system = cfg.system_prompt_tokens
    for request, earlier in zip(plan[1:], shares.earlier_tokens[1:], strict=True):
        if request.resend_history:  # repeats the previous turn's whole prompt
            previous = plan[request.turn - 2]
            assert earlier == previous.prompt_tokens
        else:  # the context was cut after the system prompt
            assert system <= earlier < request.prompt_tokens


def test_preview_shares_of_a_planned_mix_stay_ordered() -> None:
    scenario = parse_scenario(
        {
            "seed": 4,
            "duration": "30s",
            "arrival": {"rate": 3},
            "workload": [
                {"kind": "agent_loop", "context_window_tokens": 6000},
                {"kind": "rag", "turns": 3},
                {"kind": "chat"},
            ],
        }
    )
    plan = build_plan(scenario)
    summary = preview(plan, 30.0)
    assert summary.prompt_tokens_total == sum(prefix_share(plan).prompt_tokens)
    # Within a session every re-sending turn repeats the previous prompt: reuse is higher.
    assert 0 < summary.shared_prefix_prompt_share < summary.prefix_reuse_prompt_share < 1


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 100), st.sampled_from("abc")),
        min_size=1,
        max_size=80,
    ),
    st.integers(0, 220),
    st.integers(0, 110),
    st.sampled_from("abc"),
)
# Only the size on top of the second block was sent early: the block above is skipped to it.
@example(
    [(size, 0 if size == 2 * prefix_sharing._BLOCK - 1 else 100, "a") for size in range(60)],
    200,
    50,
    "a",
)
def test_the_size_index_agrees_with_a_scan(
    senders: list[tuple[int, int, str]], tokens: int, before: int, session: str
) -> None:
    trie = prefix_sharing._Trie()
    key = ("user", 7, "")
    for size, index, sender in senders:
        trie.add(0, (key, size), index, sender)
    children = trie.by_key[0, key]
    by_size = trie.sizes(0, key)
    assert by_size.before(tokens, before) == max(
        (min(size, tokens) for size, child in children.items() if trie.first[child] < before),
        default=0,
    )
    assert by_size.other_than(tokens, session) == max(
        (min(size, tokens) for size, child in children.items() if trie.alone(child) != session),
        default=0,
    )
