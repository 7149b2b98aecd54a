"""Tool calls through the official SDKs: streamed deltas and whole answers, both providers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.api.requests import ParsedRequest
from mock_models.settings import DeploymentSettings, MockSettings
from mock_models.sim.tools import choose_tool

Serving = Callable[..., AbstractAsyncContextManager[str]]

_SETTINGS = MockSettings(
    seed=8,
    deployments=(
        DeploymentSettings(
            name="tools",
            model="mock-t",
            ttft_ms=1.0,
            itl_ms=0.2,
            output_tokens=6,
            output_tokens_sigma=0.0,
            tool_call_share=0.0,
        ),
    ),
)
_OPENAI_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {"type": "object", "properties": {"query": {}}},
        },
    }
]
_ANTHROPIC_TOOLS: Any = [{"name": "search", "input_schema": {"type": "object"}}]


def test_openai_tool_calls_stream_and_whole(serving: Serving) -> None:
    async def scenario() -> None:
        async with (
            serving(_SETTINGS) as base_url,
            openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="k", max_retries=0) as client,
        ):
            messages: Any = [{"role": "user", "content": "find it"}]
            stream = await client.chat.completions.create(
                model="mock-t",
                messages=messages,
                tools=_OPENAI_TOOLS,
                tool_choice="required",
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
            deltas = [
                call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()
            ]
            assert deltas[0].id and deltas[0].function and deltas[0].function.name == "search"
            arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
            assert len(json.loads(arguments)["query"].split()) == 6
            finish = [
                c.choices[0].finish_reason
                for c in chunks
                if c.choices and c.choices[0].finish_reason
            ]
            assert finish == ["tool_calls"]
            assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
            whole = await client.chat.completions.create(
                model="mock-t",
                messages=messages,
                tools=_OPENAI_TOOLS,
                tool_choice={"type": "function", "function": {"name": "search"}},
            )
            choice = whole.choices[0]
            assert choice.finish_reason == "tool_calls" and choice.message.content is None
            [call] = choice.message.tool_calls or []
            assert call.type == "function"
            assert json.loads(call.function.arguments)["query"]
            plain = await client.chat.completions.create(
                model="mock-t", messages=messages, tools=_OPENAI_TOOLS
            )  # auto, share 0
            assert plain.choices[0].message.tool_calls is None
            assert plain.choices[0].finish_reason == "stop"

    asyncio.run(scenario())


def test_anthropic_tool_use_stream_and_whole(serving: Serving) -> None:
    async def scenario() -> None:
        async with (
            serving(_SETTINGS) as base_url,
            anthropic.AsyncAnthropic(base_url=base_url, api_key="k", max_retries=0) as client,
        ):
            messages: Any = [{"role": "user", "content": "find it"}]
            async with client.messages.stream(
                model="mock-t",
                max_tokens=100,
                messages=messages,
                tools=_ANTHROPIC_TOOLS,
                tool_choice={"type": "any"},
            ) as stream:
                kinds = [event.type async for event in stream]
                message = await stream.get_final_message()
            assert "input_json" in kinds
            assert message.stop_reason == "tool_use"
            [block] = message.content
            assert block.type == "tool_use" and block.name == "search"
            assert len(block.input["query"].split()) == 6  # type: ignore[index]
            whole = await client.messages.create(
                model="mock-t",
                max_tokens=100,
                messages=messages,
                tools=_ANTHROPIC_TOOLS,
                tool_choice={"type": "tool", "name": "search"},
            )
            assert whole.stop_reason == "tool_use" and whole.content[0].type == "tool_use"
            with pytest.raises(anthropic.BadRequestError):
                await client.messages.create(
                    model="mock-t",
                    max_tokens=5,
                    messages=messages,
                    tools=_ANTHROPIC_TOOLS,
                    tool_choice={"type": "tool", "name": "nope"},
                )

    asyncio.run(scenario())


@given(
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    st.sampled_from(["auto", "none", "required", "tool:b"]),
    st.floats(min_value=0, max_value=1, exclude_max=True),
    st.floats(min_value=0, max_value=1),
)
def test_tool_choice_rules(tools: list[str], choice: str, u: float, share: float) -> None:
    request = ParsedRequest(
        model="m",
        prompt_tokens=1,
        max_tokens=None,
        stream=False,
        include_usage=False,
        tools=tuple(tools),
        tool_choice=choice,
    )
    chosen = choose_tool(request, u, share)
    if not tools or choice == "none":
        assert chosen is None
    elif choice == "tool:b":
        assert chosen == "b"
    elif choice == "required":
        assert chosen == tools[0]
    else:
        assert chosen == (tools[0] if u < share else None)
