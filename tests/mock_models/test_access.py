"""API-key check (the providers' 401s) and readiness after a start-up delay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import anthropic
import openai
import pytest

from mock_models.settings import MockSettings, constant_settings

Serving = Callable[..., AbstractAsyncContextManager[str]]


def _settings(**fields: object) -> MockSettings:
    base = constant_settings(ttft_ms=0, itl_ms=0, output_tokens=2)
    return MockSettings.model_validate({**base.model_dump(), **fields})


def test_a_wrong_key_gets_each_providers_401(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_settings(api_keys=("sk-good",))) as base_url:
            messages: list[openai.types.chat.ChatCompletionMessageParam] = [
                {"role": "user", "content": "hi"}
            ]
            async with openai.AsyncOpenAI(
                base_url=base_url + "/v1", api_key="sk-bad", max_retries=0
            ) as bad:
                with pytest.raises(openai.AuthenticationError) as refused:
                    await bad.chat.completions.create(model="m", messages=messages)
                assert refused.value.code == "invalid_api_key"
            async with openai.AsyncOpenAI(
                base_url=base_url + "/v1", api_key="sk-good", max_retries=0
            ) as good:
                answer = await good.chat.completions.create(model="m", messages=messages)
                assert answer.usage is not None and answer.usage.completion_tokens == 2
            async with anthropic.AsyncAnthropic(
                base_url=base_url, api_key="sk-bad", max_retries=0
            ) as bad_anthropic:
                with pytest.raises(anthropic.AuthenticationError) as denied:
                    await bad_anthropic.messages.create(
                        model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
                    )
                assert isinstance(denied.value.body, dict)
                assert denied.value.body["error"]["type"] == "authentication_error"
            async with anthropic.AsyncAnthropic(
                base_url=base_url, api_key="sk-good", max_retries=0
            ) as good_anthropic:
                message = await good_anthropic.messages.create(
                    model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
                )
                assert message.usage.output_tokens == 2

    asyncio.run(scenario())


def test_ready_after_the_start_up_delay(serving: Serving) -> None:
    async def scenario() -> None:
        async with (
            serving(_settings(startup_s=0.3)) as base_url,
            aiohttp.ClientSession() as session,
        ):
            started = time.monotonic()
            statuses = []
            while time.monotonic() - started < 2.0:
                async with session.get(base_url + "/ready") as response:
                    statuses.append(response.status)
                    if response.status == 200:
                        break
                await asyncio.sleep(0.05)
            assert statuses[0] == 503 and statuses[-1] == 200
            assert set(statuses) == {503, 200}
            async with session.get(base_url + "/health") as response:
                assert response.status == 200  # alive all along

    asyncio.run(scenario())
