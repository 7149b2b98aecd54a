"""Embedding traffic in the plan: ``embed`` batches and ``rag``'s ``embed_query``."""

from __future__ import annotations

from typing import Any

from harness.contract.apis import OPENAI_CHAT, OPENAI_EMBEDDINGS
from harness.contract.topic_marker import find_topic_marker
from workloads.planner import build_plan
from workloads.scenario import parse_scenario


def _plan(*workloads: dict[str, Any]) -> list[Any]:
    scenario = parse_scenario(
        {"seed": 9, "duration": "20s", "arrival": {"rate": "10/s"}, "workload": list(workloads)}
    )
    return build_plan(scenario)


def test_embed_batches_are_consecutive_pool_documents() -> None:
    plan = _plan({"kind": "embed", "documents": 7, "batch_size": 3, "document_tokens": 20})
    assert plan and all(p.api == OPENAI_EMBEDDINGS and not p.stream for p in plan)
    texts_by_seed: dict[int, int] = {}
    for request in plan:
        assert len(request.messages) == 3
        assert len({m.seed for m in request.messages}) == 3
        assert request.prompt_tokens == 60
        for message in request.messages:
            texts_by_seed[message.seed] = message.tokens
    assert len(texts_by_seed) == 7  # the whole pool, re-embedded again and again
    assert plan == _plan({"kind": "embed", "documents": 7, "batch_size": 3, "document_tokens": 20})


def test_embed_query_precedes_each_rag_turn() -> None:
    rag = {
        "kind": "rag",
        "turns": 3,
        "embed_query": True,
        "embed_model": "embedder",
        "repeat": {"share": 0.5, "paraphrase_share": 1.0},
    }
    plan = _plan(rag)
    sessions: dict[str, list[Any]] = {}
    for request in plan:
        sessions.setdefault(request.session_id, []).append(request)
    for turns in sessions.values():
        turns.sort(key=lambda r: r.turn)
        assert [r.turn for r in turns] == list(range(1, 7))
        sid = turns[0].session_id
        assert [r.request_id for r in turns[1::2]] == [f"{sid}-t{k}" for k in range(1, 4)]
        assert [r.request_id for r in turns[::2]] == [f"{sid}-t{k}-embed" for k in range(1, 4)]
        for embed, chat in zip(turns[::2], turns[1::2], strict=True):
            assert (embed.api, chat.api) == (OPENAI_EMBEDDINGS, OPENAI_CHAT)
            assert embed.model == "embedder" and chat.model != "embedder"
            assert chat.think_s == 0.0 and len(embed.messages) == 1
        # The first query embeds the question with its topic marker (what the cache sees).
        first = turns[0].messages[0].content
        marker = find_topic_marker(first)
        assert marker is not None
        assert marker.topic == (turns[1].repeat_of or turns[1].request_id)
