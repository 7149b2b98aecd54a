"""Conformance: the official anthropic SDK parses what the mock sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anthropic
from anthropic.types import TextBlockParam

from harness.contract.prompt_text import count_tokens, synthetic_text
from mock_models.settings import DeploymentSettings, EngineSettings, MockSettings

Serving = Callable[..., AbstractAsyncContextManager[str]]

_SETTINGS = MockSettings(
    seed=5,
    deployments=(
        DeploymentSettings(
            name="claude-ish",
            model="mock-claude",
            ttft_ms=1.0,
            prefill_ms_per_token=0.0,
            itl_ms=0.2,
            output_tokens=12,
            output_tokens_sigma=0.4,
        ),
    ),
)
_SYSTEM = synthetic_text(33, 4)
_PROMPT = synthetic_text(48, 6)
_PROMPT_TOKENS = count_tokens(_SYSTEM) + count_tokens(_PROMPT)


def _client(base_url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=base_url, api_key="test", max_retries=0)


def test_messages_stream_final_message(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            for max_tokens in (5, 1000):
                events: list[str] = []
                async with client.messages.stream(
                    model="mock-claude",
                    max_tokens=max_tokens,
                    system=_SYSTEM,
                    messages=[{"role": "user", "content": _PROMPT}],
                ) as stream:
                    async for event in stream:
                        events.append(event.type)
                    message = await stream.get_final_message()
                text = "".join(block.text for block in message.content if block.type == "text")
                assert message.model == "mock-claude" and message.role == "assistant"
                assert count_tokens(text) == message.usage.output_tokens
                assert events.count("text") == message.usage.output_tokens
                assert message.usage.input_tokens == _PROMPT_TOKENS
                assert message.usage.cache_read_input_tokens == 0
                assert events[0] == "message_start" and events[-1] == "message_stop"
                if max_tokens == 5:
                    assert message.stop_reason == "max_tokens"
                    assert message.usage.output_tokens == 5
                else:
                    assert message.stop_reason == "end_turn"
                    assert message.usage.output_tokens < max_tokens

    asyncio.run(scenario())


def test_messages_create_streaming_events(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            stream = await client.messages.create(
                model="mock-claude",
                max_tokens=3,
                stream=True,
                messages=[{"role": "user", "content": "hello"}],
            )
            kinds = [event.type async for event in stream]
            assert kinds == [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]

    asyncio.run(scenario())


def test_messages_create_non_streaming(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            message = await client.messages.with_raw_response.create(
                model="mock-claude",
                max_tokens=2,
                system=[{"type": "text", "text": _SYSTEM}],
                messages=[{"role": "user", "content": [{"type": "text", "text": _PROMPT}]}],
            )
            assert message.headers["request-id"].startswith("req_")
            assert message.headers["x-tokenstorm-deployment"] == "claude-ish"
            parsed = await message.parse()
            assert parsed.type == "message" and parsed.model == "mock-claude"
            assert parsed.stop_reason == "max_tokens"
            assert parsed.usage.output_tokens == 2
            assert parsed.usage.input_tokens == _PROMPT_TOKENS
            assert parsed.content[0].type == "text"
            assert count_tokens(parsed.content[0].text) == 2

    asyncio.run(scenario())


def test_unknown_model_is_not_found(serving: Serving) -> None:
    async def scenario() -> None:
        async with serving(_SETTINGS) as base_url, _client(base_url) as client:
            try:
                await client.messages.create(
                    model="claude-nope", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
                )
            except anthropic.NotFoundError as exc:
                assert exc.status_code == 404
                assert isinstance(exc.body, dict)
                assert exc.body["error"]["type"] == "not_found_error"
            else:
                raise AssertionError("an unknown model must be a 404")

    asyncio.run(scenario())


_LONG_SYSTEM = synthetic_text(1200, 8)
_CACHING = MockSettings(
    seed=5,
    deployments=(
        DeploymentSettings(
            name="claude-cache",
            model="mock-claude",
            output_tokens=6,
            output_tokens_sigma=0.0,
            jitter=0.0,
            engine=EngineSettings(
                step_base_ms=0.5,
                prefill_ms_per_token=0.0,
                decode_ms_per_seq=0.0,
                prefix_cache_blocks=100,
            ),
        ),
    ),
)


def test_cache_control_usage_parses_through_the_sdk(serving: Serving) -> None:
    """A marked system prompt: written by the first call (5-minute entry), read by the second
    (streamed); every usage field the SDK parses is consistent."""
    system: list[TextBlockParam] = [
        {"type": "text", "text": _LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}
    ]

    async def scenario() -> None:
        async with serving(_CACHING) as base_url, _client(base_url) as client:
            first = await client.messages.create(
                model="mock-claude",
                max_tokens=20,
                system=system,
                messages=[{"role": "user", "content": _PROMPT}],
            )
            async with client.messages.stream(
                model="mock-claude",
                max_tokens=20,
                system=system,
                messages=[{"role": "user", "content": synthetic_text(30, 9)}],
            ) as stream:
                second = await stream.get_final_message()
        usage = first.usage
        assert usage.cache_creation_input_tokens == 1200
        assert usage.cache_read_input_tokens == 0
        assert usage.input_tokens == count_tokens(_PROMPT)
        assert usage.cache_creation is not None
        assert usage.cache_creation.ephemeral_5m_input_tokens == 1200
        assert usage.cache_creation.ephemeral_1h_input_tokens == 0
        assert second.usage.cache_read_input_tokens == 1200
        assert second.usage.cache_creation_input_tokens == 0
        assert second.usage.input_tokens == 30

    asyncio.run(scenario())


def test_bad_cache_control_is_a_bad_request(serving: Serving) -> None:
    """More than four breakpoints, or a TTL Anthropic does not offer: 400 naming the limit."""
    marked: list[TextBlockParam] = [
        {"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}}
        for i in range(5)
    ]
    bad_ttl: list[TextBlockParam] = [
        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}
    ]  # type: ignore[typeddict-item]

    async def scenario() -> None:
        async with serving(_CACHING) as base_url, _client(base_url) as client:
            for system, wording in (
                (marked, "A maximum of 4 blocks with cache_control"),
                (bad_ttl, "system.0.cache_control.ttl"),
            ):
                try:
                    await client.messages.create(
                        model="mock-claude",
                        max_tokens=5,
                        system=system,
                        messages=[{"role": "user", "content": "hi"}],
                    )
                except anthropic.BadRequestError as exc:
                    assert wording in str(exc)
                else:
                    raise AssertionError(f"accepted {system!r}")

    asyncio.run(scenario())
