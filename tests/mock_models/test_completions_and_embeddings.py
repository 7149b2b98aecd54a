"""Conformance of ``/v1/completions`` and ``/v1/embeddings``: the official openai SDK parses
what the mock sends, and each attempt leaves its ledger line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import numpy as np
import openai
import pytest

from harness.contract.prompt_text import count_tokens, synthetic_text
from mock_models.settings import DeploymentSettings, EngineSettings, MockSettings
from mock_models.sim.embeddings import embedding_vector

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., object]

_SETTINGS = MockSettings(
    seed=7,
    deployments=(
        DeploymentSettings(
            name="constant",
            model="mock-constant",
            ttft_ms=1.0,
            prefill_ms_per_token=0.0,
            itl_ms=0.2,
            output_tokens=30,
            output_tokens_sigma=0.3,
            embedding_dimensions=64,
        ),
        DeploymentSettings(
            name="engine",
            model="mock-engine",
            output_tokens=30,
            output_tokens_sigma=0.3,
            engine=EngineSettings(
                step_base_ms=0.05, prefill_ms_per_token=0.0, decode_ms_per_seq=0.0
            ),
        ),
    ),
)
_PROMPT = synthetic_text(41, 3)


def _client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="test", max_retries=0)


@pytest.mark.parametrize("model", ["mock-constant", "mock-engine"])
def test_text_completions_whole_and_streamed(
    serving: Serving, ledger_of: LedgerOf, model: str
) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            whole = await client.completions.create(model=model, prompt=_PROMPT, max_tokens=5)
            choice = whole.choices[0]
            assert whole.object == "text_completion" and whole.model == model
            assert whole.id.startswith("cmpl-") and choice.finish_reason == "length"
            assert whole.usage is not None and whole.usage.completion_tokens == 5
            assert count_tokens(choice.text) == 5
            assert whole.usage.prompt_tokens == count_tokens(_PROMPT)
            # The legacy endpoint caps at 16 tokens unless told otherwise.
            default = await client.completions.create(model=model, prompt=[_PROMPT])
            assert default.usage is not None and default.usage.completion_tokens == 16
            ids = await client.completions.create(
                model=model, prompt=[3, 1, 4, 1, 5], max_tokens=1000
            )
            assert ids.usage is not None and ids.usage.prompt_tokens == 5
            assert ids.choices[0].finish_reason == "stop"
            assert count_tokens(ids.choices[0].text) == ids.usage.completion_tokens < 1000
            chunks = [
                chunk
                async for chunk in await client.completions.create(
                    model=model,
                    prompt=_PROMPT,
                    max_tokens=7,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            ]
            text_chunks = [c for c in chunks if c.choices and c.choices[0].text]
            text = "".join(c.choices[0].text for c in text_chunks)
            usage = chunks[-1].usage
            assert usage is not None and chunks[-1].choices == []
            assert len(text_chunks) == count_tokens(text) == usage.completion_tokens == 7
            assert {c.object for c in chunks} == {"text_completion"}
            assert len({c.id for c in chunks}) == 1
            assert [
                c.choices[0].finish_reason
                for c in chunks
                if c.choices and c.choices[0].finish_reason
            ] == ["length"]
            with pytest.raises(openai.BadRequestError) as refused:
                await client.completions.create(model=model, prompt=["one", "two"])
            assert refused.value.param == "prompt"
            async with aiohttp.ClientSession() as session:
                ledger = await ledger_of(session, base_url)  # type: ignore[misc]
            lines = [e for e in ledger if e.status_code == 200]
            assert {e.api for e in ledger} == {"openai-completions"}
            assert [e.completion_tokens for e in lines][:2] == [5, 16]
            assert [e.stream for e in lines] == [False, False, False, True]

    asyncio.run(scenario())


def test_embeddings(serving: Serving, ledger_of: LedgerOf) -> None:
    async def scenario() -> None:
        texts = ["alpha beta gamma", _PROMPT, "alpha beta gamma"]
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            # The SDK asks for base64 unless told otherwise, and decodes it.
            answer = await client.embeddings.create(model="mock-constant", input=texts)
            vectors = np.array([item.embedding for item in answer.data])
            assert answer.object == "list" and answer.model == "mock-constant"
            assert [item.index for item in answer.data] == [0, 1, 2]
            assert vectors.shape == (3, 64)
            assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
            assert np.array_equal(vectors[0], vectors[2])
            assert not np.allclose(vectors[0], vectors[1])
            assert np.allclose(vectors[1], embedding_vector(_PROMPT, 64), atol=1e-6)
            tokens = sum(count_tokens(text) for text in texts)
            assert answer.usage.prompt_tokens == answer.usage.total_tokens == tokens
            floats = await client.embeddings.create(
                model="mock-constant", input=texts[0], encoding_format="float", dimensions=8
            )
            short = np.array(floats.data[0].embedding)
            head = vectors[0][:8]
            assert short.shape == (8,)
            assert np.allclose(short, head / np.linalg.norm(head), atol=1e-5)
            engine = await client.embeddings.create(model="mock-engine", input=[[5, 6, 7]])
            assert len(engine.data[0].embedding) == 1536
            assert engine.usage.prompt_tokens == 3
            for bad, param in (
                ({"input": []}, "input"),
                ({"input": [""]}, "input"),
                ({"input": "x", "dimensions": 65}, "dimensions"),
            ):
                with pytest.raises(openai.BadRequestError) as refused:
                    await client.embeddings.create(model="mock-constant", **bad)
                assert refused.value.param == param
            with pytest.raises(openai.NotFoundError):
                await client.embeddings.create(model="nope", input="x")
            async with aiohttp.ClientSession() as session:
                ledger = await ledger_of(session, base_url)  # type: ignore[misc]
        assert {e.api for e in ledger} == {"openai-embeddings"}
        assert [e.status_code for e in ledger] == [200, 200, 200, 400, 400, 400, 404]
        assert [e.prompt_tokens for e in ledger[:3]] == [tokens, 3, 3]
        assert [e.deployment for e in ledger[:3]] == ["constant", "constant", "engine"]
        assert all(e.completion_tokens == 0 for e in ledger)

    asyncio.run(scenario())
