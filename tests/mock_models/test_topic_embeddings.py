"""The mock's embeddings of planned near-duplicates: a paraphrase's vector has the planned
cosine to its original's (the done-when of near-duplicates: 1,000 pairs over HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import numpy as np
import openai
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contract.prompt_text import synthetic_text
from harness.contract.records import PlannedRequest
from harness.contract.topic_marker import topic_marker
from mock_models.settings import DeploymentSettings, MockSettings
from mock_models.sim.embeddings import embedding_vector
from workloads.planner import build_plan
from workloads.scenario import parse_scenario

Serving = Callable[..., AbstractAsyncContextManager[str]]

_SETTINGS = MockSettings(
    deployments=(
        DeploymentSettings(name="embed", model="mock-embed", ttft_ms=0.0, prefill_ms_per_token=0.0),
    ),
)


def _prompt(request: PlannedRequest) -> str:
    """The prompt as a semantic cache embeds it: the messages' texts joined, tag at the end."""
    texts = [m.content or synthetic_text(m.tokens, m.seed) for m in request.messages]
    return "\n".join(texts) + f" [tokenstorm run=r1 request={request.request_id}]"


def _pairs(count: int) -> list[tuple[str, str, float]]:
    scenario = parse_scenario(
        {
            "seed": 11,
            "duration": "60s",
            "arrival": {"rate": "40/s"},
            "workload": [
                {
                    "kind": "rag",
                    "documents_per_request": 1,
                    "document_tokens": 30,
                    "system_prompt_tokens": 10,
                    "repeat": {
                        "share": 0.7,
                        "paraphrase_share": 0.8,
                        "similarity": {"dist": "uniform", "min": 0.0, "max": 1.0},
                    },
                }
            ],
        }
    )
    plan = build_plan(scenario)
    by_id = {r.request_id: r for r in plan}
    pairs = [
        (_prompt(by_id[r.repeat_of]), _prompt(r), float(r.similarity or 0.0))
        for r in plan
        if r.repeat_of
    ]
    assert len(pairs) >= count
    return pairs[:count]


def test_a_thousand_paraphrases_have_their_planned_cosine(serving: Serving) -> None:
    pairs = _pairs(1000)
    assert sum(1 for *_, s in pairs if s < 1.0) > 600  # paraphrases, not only exact repeats

    async def scenario() -> list[float]:
        async with serving(_SETTINGS) as base_url:
            client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="t", max_retries=0)
            async with client:
                cosines: list[float] = []
                for start in range(0, len(pairs), 500):
                    chunk = pairs[start : start + 500]
                    texts = [text for pair in chunk for text in pair[:2]]
                    answer = await client.embeddings.create(model="mock-embed", input=texts)
                    vectors = np.array([item.embedding for item in answer.data])
                    cosines.extend(
                        float(vectors[2 * i] @ vectors[2 * i + 1]) for i in range(len(chunk))
                    )
                return cosines

    cosines = np.array(asyncio.run(scenario()))
    planned = np.array([s for *_, s in pairs])
    assert np.max(np.abs(cosines - planned)) <= 0.01
    # Unrelated originals stay near orthogonal (their topics differ).
    assert abs(float(np.mean(cosines[planned < 0.2]) - np.mean(planned[planned < 0.2]))) < 0.01


@settings(max_examples=40, deadline=None)
@given(
    similarity=st.floats(0.0, 1.0),
    dimensions=st.sampled_from([8, 64, 256, 1536]),
    words=st.text("abc ", min_size=0, max_size=30),
)
def test_cosine_holds_at_any_length(similarity: float, dimensions: int, words: str) -> None:
    original = embedding_vector(f"{words} {topic_marker('s1-t1')}", 1536, dimensions)
    copy = embedding_vector(f"other words {topic_marker('s1-t1', 1.0)}", 1536, dimensions)
    variant = embedding_vector(f"{words}! {topic_marker('s1-t1', similarity)}", 1536, dimensions)
    assert np.array_equal(original, copy)
    assert abs(float(original @ variant) - round(similarity, 3)) <= 0.01


def test_a_marker_counts_only_at_the_end() -> None:
    marked = f"question {topic_marker('s2-t1')}"
    later_turn = f"{marked}\nanswer words\nnext question [tokenstorm run=r request=s2-t2]"
    topic = embedding_vector(f"x {topic_marker('s2-t1')}", 64)
    assert np.array_equal(embedding_vector(f"{marked} [tokenstorm run=r request=s9-t1]", 64), topic)
    assert abs(float(embedding_vector(later_turn, 64) @ topic)) < 0.6
    assert np.array_equal(embedding_vector("plain text", 64), embedding_vector("plain text", 64))
