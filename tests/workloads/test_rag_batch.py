"""RAG sessions repeat pool documents as shared prefixes, batch jobs plan independent tagged
requests, and ``shared_prefix_share`` holds for each prompt."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.batch import BatchWorkload
from workloads.kinds import builder_for
from workloads.planner import build_plan
from workloads.rag import RagWorkload
from workloads.scenario import parse_scenario
from workloads.session import SessionContext
from workloads.stream import StreamWorkload


def _context(
    index: int, workload_index: int = 0, tags: dict[str, str] | None = None
) -> SessionContext:
    return SessionContext(
        session_id=f"s{index:06d}",
        session_index=index,
        start_s=2.0,
        api="openai-chat",
        model="m",
        stream=True,
        seed=11,
        workload_index=workload_index,
        workload_name="w",
        tags=tags or {"workload": "w"},
    )


def test_rag_documents_come_from_a_shared_pool_in_pool_order() -> None:
    cfg = RagWorkload(kind="rag", documents=30, documents_per_request=5)
    documents: dict[int, tuple[int, str]] = {}
    leading = Counter()
    for index in range(300):
        [request] = builder_for("rag")(cfg, _context(index), np.random.default_rng(index))
        system, *docs, question = request.messages
        assert system.role == "system" and question.role == "user" and len(docs) == 5
        assert len({doc.seed for doc in docs}) == 5
        for doc in docs:
            # The same seed always carries the same size: a document is one fixed text.
            assert documents.setdefault(doc.seed, (doc.tokens, doc.role)) == (doc.tokens, "user")
        leading[docs[0].seed] += 1
        assert request.prompt_tokens == sum(m.tokens for m in request.messages)
    assert len(documents) <= 30
    # Zipf popularity in pool order: many sessions share the same first document.
    assert leading.most_common(1)[0][1] > 300 * 0.3


def test_rag_document_sizes_do_not_depend_on_the_session() -> None:
    cfg = RagWorkload(kind="rag", documents=5, documents_per_request=5, document_zipf_s=0.0)
    first = builder_for("rag")(cfg, _context(1), np.random.default_rng(1))[0].messages[1:-1]
    again = builder_for("rag")(cfg, _context(2), np.random.default_rng(2))[0].messages[1:-1]
    assert first == again
    other_pool = builder_for("rag")(cfg, _context(1, 1), np.random.default_rng(1))
    assert other_pool[0].messages[1:-1] != first


def test_batch_jobs_are_independent_requests_tagged_batch() -> None:
    cfg = BatchWorkload.model_validate({"kind": "batch", "requests": 40, "spacing": "10ms"})
    tags = {"workload": "batch", "tenant": "t"}
    plan = builder_for("batch")(cfg, _context(4, tags=tags), np.random.default_rng(4))
    assert len(plan) == 40 == len({r.session_id for r in plan})
    assert all(r.turn == 1 and r.session_id.startswith("s000004-r") for r in plan)
    assert all(r.tags["class"] == "batch" and r.tags["tenant"] == "t" for r in plan)
    assert np.allclose(np.diff([r.offset_s for r in plan]), 0.01)
    assert len({m.seed for r in plan for m in r.messages}) == 40
    own_class = _context(4, tags={**tags, "class": "offline"})
    assert {
        r.tags["class"] for r in builder_for("batch")(cfg, own_class, np.random.default_rng(4))
    } == {"offline"}


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 1.0), st.sampled_from(["stream", "batch"]), st.integers(0, 2**32))
def test_shared_prefix_share_holds_for_every_prompt(share: float, kind: str, seed: int) -> None:
    config = {
        "kind": kind,
        "shared_prefix_share": share,
        "prompt_tokens": {"dist": "lognormal", "median": 500, "sigma": 1.0},
    }
    cfg = (StreamWorkload if kind == "stream" else BatchWorkload).model_validate(config)
    shared_seed = _context(0).shared_seed(1)
    for index in range(5):
        for request in builder_for(kind)(cfg, _context(index), np.random.default_rng(seed)):
            total = sum(m.tokens for m in request.messages)
            shared = sum(m.tokens for m in request.messages if m.seed == shared_seed)
            assert total == request.prompt_tokens
            assert abs(shared - share * total) <= 0.5
            # The shared part leads the prompt; the rest is this request's own text.
            assert (request.messages[0].seed == shared_seed) == (shared > 0)


def test_new_kinds_plan_through_a_scenario_with_their_shares() -> None:
    scenario = parse_scenario(
        {
            "seed": 2,
            "duration": "200s",
            "arrival": {"rate": 10},
            "workload": [{"kind": "rag", "share": 3}, {"kind": "stream", "share": 1}],
        }
    )
    plan = build_plan(scenario)
    counts = Counter(request.tags["workload"] for request in plan)
    assert abs(counts["rag"] / sum(counts.values()) - 0.75) < 0.05
