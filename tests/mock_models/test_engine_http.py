"""Engine deployments on the wire: queue bound, disconnects, ledger, and SDK conformance."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import openai
import orjson
import pytest
import uvloop

from harness.contract.records import LedgerEntry
from mock_models.settings import DeploymentSettings, EngineSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]
LedgerOf = Callable[..., Awaitable[list[LedgerEntry]]]

_PATHS = {"openai-chat": "/v1/chat/completions", "anthropic-messages": "/v1/messages"}


def _settings(**engine: Any) -> MockSettings:
    fields: dict[str, Any] = {
        "max_num_seqs": 1,
        "max_waiting_seqs": 0,
        "step_base_ms": 2.0,
        "prefill_ms_per_token": 0.0,
        "decode_ms_per_seq": 0.0,
    }
    fields.update(engine)
    deployment = DeploymentSettings(
        name="one-slot",
        model="m",
        jitter=0.0,
        output_tokens=150,
        output_tokens_sigma=0.0,
        engine=EngineSettings(**fields),
    )
    return MockSettings(seed=2, deployments=(deployment,))


def _body(api: str, request_id: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    body = {
        "model": "m",
        "stream": True,
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "one two three"}],
    }
    return _PATHS[api], body, {"x-tokenstorm-request-id": request_id, "x-tokenstorm-attempt": "1"}


def _is_token(line: bytes) -> bool:
    return b'"text_delta"' in line or (b'"content":"' in line and b'"content":""' not in line)


async def _read_tokens(response: aiohttp.ClientResponse, count: int) -> None:
    seen = 0
    async for line in response.content:
        if _is_token(line):
            seen += 1
            if seen == count:
                return


async def _entries(
    ledger_of: LedgerOf, session: aiohttp.ClientSession, base_url: str, count: int
) -> list[LedgerEntry]:
    for _ in range(300):
        entries = await ledger_of(session, base_url)
        if len(entries) >= count:
            return entries
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} ledger entries, got {len(entries)}")


@pytest.mark.parametrize("api", list(_PATHS))
@pytest.mark.parametrize("status", [429, 503])
def test_a_full_queue_answers_with_a_provider_error(
    serving: Serving, ledger_of: LedgerOf, api: str, status: int
) -> None:
    async def scenario() -> None:
        async with (
            serving(_settings(queue_full_status=status)) as base_url,
            aiohttp.ClientSession() as session,
        ):
            path, body, headers = _body(api, "first")
            first = await session.post(base_url + path, json=body, headers=headers)
            await _read_tokens(first, 1)
            path, body, headers = _body(api, "second")
            async with session.post(base_url + path, json=body, headers=headers) as refused:
                assert refused.status == status
                assert refused.content_type == "application/json"
                error = orjson.loads(await refused.read())
            first.close()
            if api == "anthropic-messages":
                assert error["type"] == "error"
                assert error["error"]["type"] == (
                    "rate_limit_error" if status == 429 else "overloaded_error"
                )
            else:
                assert "queue is full" in error["error"]["message"]
            entries = await _entries(ledger_of, session, base_url, 2)
            refusal = next(e for e in entries if e.request_id == "second")
            assert (refusal.status_code, refusal.completion_tokens) == (status, 0)
            assert refusal.outcome == ("http_429" if status == 429 else "http_5xx")
            assert refusal.fault is None  # load, not an injected fault

    asyncio.run(scenario())


@pytest.mark.parametrize("policy", ["abort", "finish"])
def test_a_client_leaving_frees_the_slot_or_finishes(
    serving: Serving, ledger_of: LedgerOf, policy: str
) -> None:
    async def scenario() -> None:
        settings = _settings(max_waiting_seqs=5, on_disconnect=policy)
        async with serving(settings) as base_url, aiohttp.ClientSession() as session:
            path, body, headers = _body("openai-chat", "leaver")
            leaver = await session.post(base_url + path, json=body, headers=headers)
            await _read_tokens(leaver, 3)
            leaver.close()
            path, body, headers = _body("openai-chat", "next")
            async with session.post(base_url + path, json=body, headers=headers) as response:
                await response.read()
            entries = await _entries(ledger_of, session, base_url, 2)
        by_id = {e.request_id: e for e in entries}
        assert by_id["leaver"].outcome == "cancelled"
        assert by_id["next"].outcome == "ok" and by_id["next"].completion_tokens == 150
        # When the freed slot takes the next sequence: test_kv_engine, on a fake clock.
        if policy == "abort":
            assert 3 <= by_id["leaver"].completion_tokens < 150
        else:
            assert by_id["leaver"].completion_tokens == 150  # billed in full
            assert [e.request_id for e in entries] == ["leaver", "next"]

    asyncio.run(scenario())


def test_default_deployments_are_engines_the_sdk_parses() -> None:
    settings = MockSettings(seed=1)
    assert all(d.engine is not None and d.profile for d in settings.deployments)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_openai_sdk_streams_from_an_engine_deployment(serving: Serving, loop: str) -> None:
    # Tokens go straight to the transport: uvloop's transports must work as asyncio's do.
    settings = _settings(max_num_seqs=4, max_waiting_seqs=10, step_base_ms=0.5)

    async def scenario() -> None:
        async with (
            serving(settings) as base_url,
            openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0) as client,
        ):

            async def one() -> tuple[int, int]:
                stream = await client.chat.completions.create(
                    model="m",
                    messages=[{"role": "user", "content": "a b c d"}],
                    max_tokens=20,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                chunks = [chunk async for chunk in stream]
                texts = [c for c in chunks if c.choices and c.choices[0].delta.content]
                usage = chunks[-1].usage
                assert usage is not None and usage.prompt_tokens == 4
                assert chunks[-2].choices[0].finish_reason == "length"
                return len(texts), usage.completion_tokens

            results = await asyncio.gather(*(one() for _ in range(8)))
            assert results == [(20, 20)] * 8
            whole = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "a b"}], max_tokens=7
            )
            assert whole.usage is not None and whole.usage.completion_tokens == 7
            assert len((whole.choices[0].message.content or "").split()) == 7

    (uvloop.run if loop == "uvloop" else asyncio.run)(scenario())
