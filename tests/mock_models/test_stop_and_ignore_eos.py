"""``stop`` / ``stop_sequences`` and ``ignore_eos`` on the wire (official SDKs) and in plans."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anthropic
import openai
from hypothesis import given
from hypothesis import strategies as st

from harness.api.requests import parse_stop
from harness.contract.prompt_text import VOCABULARY, count_tokens
from mock_models.settings import (
    ANY_MODEL,
    DeploymentSettings,
    EngineSettings,
    MockSettings,
    constant_settings,
)
from mock_models.sim.stop_words import first_stop

Serving = Callable[..., AbstractAsyncContextManager[str]]

_CONSTANT = constant_settings(ttft_ms=0.0, itl_ms=0.0, output_tokens=24, seed=5)
_ENGINE = MockSettings(
    seed=5,
    deployments=(
        DeploymentSettings(
            name="engine",
            model=ANY_MODEL,
            output_tokens=6,
            output_tokens_sigma=0.3,
            engine=EngineSettings(
                step_base_ms=0.05, prefill_ms_per_token=0.0, decode_ms_per_seq=0.0
            ),
        ),
    ),
)
_HEADERS = {"x-tokenstorm-request-id": "stop-1", "x-tokenstorm-attempt": "0"}


@given(
    st.lists(st.integers(0, len(VOCABULARY) - 1), max_size=40),
    st.lists(st.sampled_from(VOCABULARY[:50]), max_size=4),
)
def test_first_stop_is_the_earliest_word_in_the_stop_list(
    words: list[int], stop: list[str]
) -> None:
    found = first_stop(tuple(words), tuple(f" {entry}" for entry in stop))
    hits = [i for i, word in enumerate(words) if VOCABULARY[word] in stop]
    if not hits:
        assert found is None
    else:
        assert found is not None
        assert found[0] == hits[0] and found[1].strip() == VOCABULARY[words[hits[0]]]


def test_parse_stop_accepts_a_string_or_a_list_and_refuses_the_rest() -> None:
    assert parse_stop(None, "stop") == ()
    assert parse_stop("ba", "stop") == ("ba",)
    assert parse_stop(["ba", " ", "be"], "stop") == ("ba", "be")
    for bad in (3, ["ba", 4], ["x"] * 17):
        try:
            parse_stop(bad, "stop")
        except Exception as exc:
            assert getattr(exc, "status", None) == 400 and getattr(exc, "param", None) == "stop"
        else:
            raise AssertionError(f"{bad!r} must be refused")


def _openai(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="test", max_retries=0)


async def _chat(base_url: str, stream: bool, **extra: Any) -> tuple[str, str | None, int]:
    """Text, finish reason and completion tokens of one chat completion with fixed ids."""
    async with _openai(base_url) as client:
        if not stream:
            done = await client.chat.completions.create(
                model="mock-any",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers=_HEADERS,
                **extra,
            )
            assert done.usage is not None
            return (
                done.choices[0].message.content or "",
                done.choices[0].finish_reason,
                done.usage.completion_tokens,
            )
        chunks = [
            chunk
            async for chunk in await client.chat.completions.create(
                model="mock-any",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=_HEADERS,
                **extra,
            )
        ]
        usage = chunks[-1].usage
        assert usage is not None
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [
            c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
        ]
        return text, finish[-1], usage.completion_tokens


def test_chat_stop_ends_before_the_first_stop_word(serving: Serving) -> None:
    async def scenario() -> None:
        for settings in (_CONSTANT, _ENGINE):
            for stream in (False, True):
                async with serving(settings) as base_url:
                    # Same seed and ids on a fresh server: the same words, so the stop is known.
                    text, _, _ = await _chat(base_url, stream)
                words = text.split()
                stop_word = words[len(words) // 2]
                expected = words[: words.index(stop_word)]
                async with serving(settings) as base_url:
                    text, finish, tokens = await _chat(
                        base_url, stream, stop=[f" {stop_word}", "no-such-word"]
                    )
                assert text.split() == expected and tokens == len(expected)
                assert finish == "stop"

    asyncio.run(scenario())


def test_chat_ignore_eos_generates_max_tokens(serving: Serving) -> None:
    async def scenario() -> None:
        for settings in (_CONSTANT, _ENGINE):
            async with serving(settings) as base_url:
                natural, finish, _ = await _chat(base_url, False)
                assert finish == "stop"
                cap = count_tokens(natural) + 7
                for stream in (False, True):
                    text, finish, tokens = await _chat(
                        base_url, stream, max_tokens=cap, extra_body={"ignore_eos": True}
                    )
                    assert tokens == count_tokens(text) == cap and finish == "length"
                try:
                    await _chat(base_url, False, extra_body={"ignore_eos": "yes"})
                except openai.BadRequestError as exc:
                    assert exc.param == "ignore_eos"
                else:
                    raise AssertionError("a non-boolean ignore_eos must be a 400")

    asyncio.run(scenario())


def test_anthropic_stop_sequences(serving: Serving) -> None:
    async def ask(base_url: str, **extra: Any) -> anthropic.types.Message:
        async with anthropic.AsyncAnthropic(
            base_url=base_url, api_key="t", max_retries=0
        ) as client:
            message: anthropic.types.Message = await client.messages.create(
                model="mock-any",
                max_tokens=100,
                extra_headers=_HEADERS,
                messages=[{"role": "user", "content": "hi"}],
                **extra,
            )
            return message

    async def scenario() -> None:
        async with serving(_CONSTANT) as base_url:
            plain = await ask(base_url)
        assert plain.stop_reason == "end_turn" and plain.stop_sequence is None
        words = "".join(b.text for b in plain.content if b.type == "text").split()
        stop_word = words[-1]
        async with serving(_CONSTANT) as base_url:
            stopped = await ask(base_url, stop_sequences=[stop_word])
        text = "".join(b.text for b in stopped.content if b.type == "text")
        assert text.split() == words[: words.index(stop_word)]
        assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == stop_word
        assert stopped.usage.output_tokens == words.index(stop_word)

    asyncio.run(scenario())
