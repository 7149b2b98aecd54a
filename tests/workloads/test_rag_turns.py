"""Multi-turn RAG: follow-ups retrieve pool documents the session has not sent yet (so they
repeat across sessions), ask a new question after a think time and re-send the history."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.records import PlannedRequest
from workloads.context_window import context_tokens
from workloads.kinds import builder_for
from workloads.rag import DOCUMENT_SLOT_BASE, RagWorkload
from workloads.session import SessionContext


def _context(index: int) -> SessionContext:
    return SessionContext(
        session_id=f"s{index:06d}",
        session_index=index,
        start_s=3.0,
        api="openai-chat",
        model="m",
        stream=True,
        seed=17,
        workload_index=0,
        workload_name="w",
        tags={"workload": "w"},
    )


def _rag(index: int, seed: int, **config: Any) -> list[PlannedRequest]:
    cfg = RagWorkload.model_validate({"kind": "rag", **config})
    return builder_for("rag")(cfg, _context(index), np.random.default_rng(seed))


def _pool_seeds(documents: int) -> dict[int, int]:
    """Text seed -> pool document id, for every document of the pool."""
    ctx = _context(0)
    return {ctx.shared_seed(DOCUMENT_SLOT_BASE + doc_id): doc_id for doc_id in range(documents)}


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(1, 12),
    st.integers(0, 4),
    st.floats(0.0, 60.0),
    st.integers(0, 2**32),
)
def test_follow_ups_add_unseen_documents_and_a_question(
    turns: int, per_request: int, follow_up: int, think_s: float, seed: int
) -> None:
    pool = 12
    plan = _rag(
        1,
        seed,
        turns=turns,
        documents=pool,
        documents_per_request=per_request,
        follow_up_documents=follow_up,
        think_time=think_s,
    )
    pool_seeds = _pool_seeds(pool)
    assert len(plan) == turns and all(request.resend_history for request in plan)
    seen: list[int] = []
    for request in plan:
        *documents, question = [m for m in request.messages if m.role != "system"]
        assert question.role == "user" and question.seed not in pool_seeds
        ids = [pool_seeds[document.seed] for document in documents]
        assert ids == sorted(ids)  # pool order
        expected = per_request if request.turn == 1 else min(follow_up, pool - len(seen))
        assert len(ids) == expected
        seen.extend(ids)
        if request.turn > 1:
            assert request.think_s == think_s
            assert request.offset_s == plan[request.turn - 2].offset_s + think_s
    assert len(seen) == len(set(seen))  # never the same document twice in a session
    sizes = context_tokens(plan)
    assert all(later > earlier for earlier, later in itertools.pairwise(sizes))
    assert [r.prompt_tokens for r in plan] == list(
        itertools.accumulate(sum(m.tokens for m in r.messages) for r in plan)
    )


def test_follow_up_documents_repeat_across_sessions() -> None:
    config = {
        "turns": 4,
        "documents": 100,
        "documents_per_request": 2,
        "follow_up_documents": 2,
        "document_zipf_s": 1.2,
    }
    pool_seeds = _pool_seeds(100)
    owners: Counter[int] = Counter()
    for index in range(200):
        follow_ups = {
            pool_seeds[m.seed]
            for r in _rag(index, index, **config)[1:]
            for m in r.messages
            if m.seed in pool_seeds
        }
        owners.update(follow_ups)
    assert sum(owners.values()) == 200 * 3 * 2
    # Popular documents come back in many sessions' follow-ups.
    assert owners.most_common(1)[0][1] > 200 * 0.2


def test_one_turn_is_the_default_and_plans_as_before() -> None:
    plan = _rag(2, 2)
    assert len(plan) == 1
    again = _rag(2, 2, turns=1, follow_up_documents=5, think_time=9)
    assert again == plan
