"""RAG sessions and the model's window: without one the context of a follow-up only grows;
with one every turn fits it, truncating or summarising the oldest turns (documents included)
as configured, while the turns, their timing and their documents stay as planned."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.records import PlannedRequest
from workloads.context_window import SUMMARY_SLOT, context_tokens
from workloads.kinds import builder_for
from workloads.planner import build_plan
from workloads.prefix_sharing import prefix_share
from workloads.rag import RagWorkload
from workloads.scenario import parse_scenario
from workloads.session import SessionContext

CONTEXT = SessionContext(
    session_id="s000004",
    session_index=4,
    start_s=1.0,
    api="openai-chat",
    model="m",
    stream=True,
    seed=23,
    workload_index=0,
    workload_name="w",
    tags={"workload": "w"},
)

#: Bounds of one turn's own tokens in ``_rag``: up to 4 documents of at most 800 tokens and a
#: question of at most 100 (turn 1), up to 3 documents and a question later.
DOCUMENT_MAX = 800
QUESTION_MAX = 100
ANSWER_MAX = 200
SUMMARY = 300
SYSTEM = 500


def _rag(seed: int, **config: Any) -> list[PlannedRequest]:
    cfg = RagWorkload.model_validate(
        {
            "kind": "rag",
            "documents": 60,
            "documents_per_request": 4,
            "system_prompt_tokens": SYSTEM,
            "summary_tokens": SUMMARY,
            "document_tokens": {"dist": "uniform", "min": 100, "max": DOCUMENT_MAX},
            "question_tokens": {"dist": "uniform", "min": 10, "max": QUESTION_MAX},
            "max_tokens": {"dist": "uniform", "min": 20, "max": ANSWER_MAX},
            "turns": {"dist": "constant", "value": 12},
            "follow_up_documents": {"dist": "uniform", "min": 0, "max": 3},
            **config,
        }
    )
    return builder_for("rag")(cfg, CONTEXT, np.random.default_rng(seed))


seeds = st.integers(min_value=0, max_value=2**32)
#: Every turn fits any of these windows on its own with the system prompt and a summary.
windows = st.integers(SYSTEM + SUMMARY + 4 * DOCUMENT_MAX + QUESTION_MAX + ANSWER_MAX, 30_000)


@settings(max_examples=40, deadline=None)
@given(seeds)
def test_without_a_window_a_rag_context_never_shrinks(seed: int) -> None:
    plan = _rag(seed)
    sizes = context_tokens(plan)
    assert all(later >= earlier for earlier, later in itertools.pairwise(sizes))
    assert all(request.resend_history for request in plan)
    assert [r.prompt_tokens for r in plan] == sorted(r.prompt_tokens for r in plan)


@settings(max_examples=40, deadline=None)
@given(windows, st.sampled_from(["truncate", "summarize"]), seeds)
def test_with_a_window_every_rag_prompt_fits_it(window: int, mode: str, seed: int) -> None:
    plan = _rag(seed, context_window_tokens=window, on_overflow=mode)
    unbounded = _rag(seed)
    # The window changes what is sent, never the turns, their timing, documents or questions.
    assert [(r.offset_s, r.think_s, r.max_tokens) for r in plan] == [
        (r.offset_s, r.think_s, r.max_tokens) for r in unbounded
    ]
    for request, size, alone in zip(plan, context_tokens(plan), unbounded, strict=True):
        assert size + request.max_tokens <= window
        assert request.messages[-len(alone.messages) :] == alone.messages
        if not request.resend_history:
            # The whole context is listed, the shared system prompt first.
            assert request.messages[0] == unbounded[0].messages[0]
            summary_seed = CONTEXT.unique_seed(request.turn, SUMMARY_SLOT)
            summarised = request.messages[1].seed == summary_seed
            assert summarised == (mode == "summarize")
    assert list(prefix_share(plan).prompt_tokens) == [r.prompt_tokens for r in plan]


@settings(max_examples=20, deadline=None)
@given(seeds)
def test_a_window_the_session_never_reaches_changes_nothing(seed: int) -> None:
    assert _rag(seed, context_window_tokens=10**7) == _rag(seed)


def test_a_long_rag_session_drops_its_oldest_documents_first() -> None:
    window = 6000
    plan = _rag(
        3, context_window_tokens=window, document_tokens=700, follow_up_documents=2, max_tokens=100
    )
    cut = [request for request in plan if not request.resend_history]
    assert cut, "a 12-turn session of 700-token documents must outgrow a 6000-token window"
    first_documents = set(plan[0].messages[1:-1])
    for request in cut:
        # Turn 1 is the oldest: its documents go first, the system prompt stays.
        assert request.messages[0] == plan[0].messages[0]
        assert not first_documents & set(request.messages)
    assert max(context_tokens(plan)) + 100 <= window
    unbounded = _rag(3, document_tokens=700, follow_up_documents=2, max_tokens=100)
    assert max(context_tokens(unbounded)) + 100 > window


def test_a_scenario_gives_rag_a_window() -> None:
    scenario = parse_scenario(
        {
            "seed": 2,
            "duration": "20s",
            "arrival": {"rate": 2},
            "workload": [
                {
                    "kind": "rag",
                    "turns": 8,
                    "document_tokens": 900,
                    "follow_up_documents": 2,
                    "context_window_tokens": 5000,
                    "on_overflow": "summarize",
                    "summary_tokens": 250,
                }
            ],
        }
    )
    plan = build_plan(scenario)
    assert any(not request.resend_history for request in plan)
    by_session: dict[str, list[PlannedRequest]] = {}
    for request in plan:
        by_session.setdefault(request.session_id, []).append(request)
    for turns in by_session.values():
        turns.sort(key=lambda request: request.turn)
        for request, size in zip(turns, context_tokens(turns), strict=True):
            assert size + request.max_tokens <= 5000
