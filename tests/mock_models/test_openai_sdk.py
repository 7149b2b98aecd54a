"""Conformance: the official openai SDK parses what the mock sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import openai

from harness.contract.prompt_text import count_tokens, synthetic_text
from mock_models.settings import DeploymentSettings, MockSettings

_SETTINGS = MockSettings(
    seed=3,
    deployments=(
        DeploymentSettings(
            name="fast",
            model="mock-fast",
            ttft_ms=1.0,
            prefill_ms_per_token=0.0,
            itl_ms=0.2,
            output_tokens=12,
            output_tokens_sigma=0.4,
        ),
    ),
)
_PROMPT = synthetic_text(57, 9)

Serving = Callable[..., AbstractAsyncContextManager[str]]


def _client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="test", max_retries=0)


def test_streaming_with_usage(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            for max_tokens in (4, 1000):
                stream = await client.chat.completions.create(
                    model="mock-fast",
                    messages=[{"role": "user", "content": _PROMPT}],
                    max_tokens=max_tokens,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                chunks = [chunk async for chunk in stream]
                content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
                text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
                finish = [
                    c.choices[0].finish_reason
                    for c in chunks
                    if c.choices and c.choices[0].finish_reason
                ]
                usage = chunks[-1].usage
                assert usage is not None and chunks[-1].choices == []
                assert all(c.usage is None for c in chunks[:-1])
                assert chunks[0].choices[0].delta.role == "assistant"
                assert len(content_chunks) == count_tokens(text) == usage.completion_tokens
                assert usage.prompt_tokens == count_tokens(_PROMPT)
                assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
                assert usage.prompt_tokens_details is not None
                assert usage.prompt_tokens_details.cached_tokens == 0
                assert {c.model for c in chunks} == {"mock-fast"}
                assert len({c.id for c in chunks}) == 1
                if max_tokens == 4:
                    assert usage.completion_tokens == 4 and finish == ["length"]
                else:
                    assert usage.completion_tokens < max_tokens and finish == ["stop"]

    asyncio.run(scenario())


def test_streaming_without_usage_sends_no_usage_field(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            stream = await client.chat.completions.create(
                model="mock-fast", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            chunks = [chunk async for chunk in stream]
            assert all(c.usage is None and c.choices for c in chunks)
            assert chunks[-1].choices[0].finish_reason == "stop"

    asyncio.run(scenario())


def test_non_streaming(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            completion = await client.chat.completions.create(
                model="mock-fast",
                max_completion_tokens=3,
                messages=[
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": _PROMPT},
                ],
            )
            choice = completion.choices[0]
            assert completion.object == "chat.completion" and completion.model == "mock-fast"
            assert choice.message.role == "assistant" and choice.finish_reason == "length"
            assert completion.usage is not None
            assert count_tokens(choice.message.content or "") == 3
            assert completion.usage.completion_tokens == 3
            assert completion.usage.prompt_tokens == count_tokens(_PROMPT) + 2

    asyncio.run(scenario())


def test_models_list_and_unknown_model(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            models = [model.id async for model in client.models.list()]
            assert models == ["mock-fast"]
            try:
                await client.chat.completions.create(
                    model="gpt-nope", messages=[{"role": "user", "content": "hi"}]
                )
            except openai.NotFoundError as exc:
                assert exc.status_code == 404
                assert exc.code == "model_not_found"
                assert exc.param == "model"
            else:
                raise AssertionError("an unknown model must be a 404")

    asyncio.run(scenario())
