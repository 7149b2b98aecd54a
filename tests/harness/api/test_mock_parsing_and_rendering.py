"""Server side of chat and messages: request bodies parsed and checked, answers rendered."""

from __future__ import annotations

import orjson
import pytest

from harness.api.anthropic_messages import AnthropicMessages
from harness.api.errors import ErrorKind, RequestError
from harness.api.openai_chat import OpenAIChat
from harness.api.rendering import Reply, split_template
from harness.contract.prompt_text import VOCABULARY, count_tokens, synthetic_text


def _body(**fields: object) -> bytes:
    return orjson.dumps(fields)


def test_openai_counts_every_text_part() -> None:
    system, user = synthetic_text(40, 1), synthetic_text(25, 2)
    parsed = OpenAIChat().parse(
        _body(
            model="m",
            messages=[
                {"role": "system", "content": system},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": user},
                        {"type": "image_url", "image_url": {"url": "x"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"city": "new york"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "sunny and warm"},
            ],
        )
    )
    assert parsed.prompt_tokens == 40 + 25 + count_tokens('{"city": "new york"}') + 3
    assert (parsed.max_tokens, parsed.stream, parsed.include_usage) == (None, False, False)


def test_openai_max_completion_tokens_wins_and_usage_needs_stream() -> None:
    flavour = OpenAIChat()
    parsed = flavour.parse(
        _body(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            max_completion_tokens=7,
            max_tokens=99,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert (parsed.max_tokens, parsed.stream, parsed.include_usage) == (7, True, True)
    unstreamed = flavour.parse(
        _body(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream_options={"include_usage": True},
        )
    )
    assert not unstreamed.include_usage


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        _body(messages=[{"role": "user", "content": "x"}]),
        _body(model="m"),
        _body(model="m", messages=[]),
        _body(model="m", messages=["x"]),
        _body(model="m", messages=[{"role": "user", "content": "x"}], max_tokens=0),
        _body(model="m", messages=[{"role": "user", "content": "x"}], stream="yes"),
    ],
)
def test_openai_rejects_bad_requests_with_400(raw: bytes) -> None:
    with pytest.raises(RequestError) as caught:
        OpenAIChat().parse(raw)
    assert caught.value.status == 400
    assert caught.value.kind is ErrorKind.INVALID_REQUEST


def test_anthropic_counts_system_blocks_and_tool_results() -> None:
    parsed = AnthropicMessages().parse(
        _body(
            model="m",
            max_tokens=50,
            stream=True,
            system=[{"type": "text", "text": synthetic_text(30, 3)}],
            messages=[
                {"role": "user", "content": "one two three"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "four five"},
                        {"type": "tool_use", "id": "t", "name": "f", "input": {"q": "six seven"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [{"type": "text", "text": "eight nine ten"}],
                        }
                    ],
                },
            ],
        )
    )
    tool_input = count_tokens(orjson.dumps({"q": "six seven"}).decode())
    assert parsed.prompt_tokens == 30 + 3 + 2 + tool_input + 3
    assert (parsed.max_tokens, parsed.stream) == (50, True)


def test_anthropic_string_system_counts_too() -> None:
    parsed = AnthropicMessages().parse(
        _body(
            model="m", max_tokens=5, system="be brief", messages=[{"role": "user", "content": "hi"}]
        )
    )
    assert parsed.prompt_tokens == 3


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        _body(model="m", messages=[{"role": "user", "content": "x"}]),
        _body(model="m", max_tokens=-1, messages=[{"role": "user", "content": "x"}]),
        _body(model="m", max_tokens=5, messages=[]),
        _body(max_tokens=5, messages=[]),
    ],
)
def test_anthropic_rejects_bad_requests_with_400(raw: bytes) -> None:
    with pytest.raises(RequestError) as caught:
        AnthropicMessages().parse(raw)
    assert caught.value.status == 400


def test_streamed_tokens_are_valid_events_with_one_word_each() -> None:
    reply = Reply(response_id="x", model="m", prompt_tokens=3, created=1, include_usage=True)
    for shape in (OpenAIChat().stream_shape(reply), AnthropicMessages().stream_shape(reply)):
        event = shape.token(17)
        data = event.split(b"data: ", 1)[1]
        assert event.endswith(b"\n\n")
        document = orjson.loads(data)
        text = document.get("delta", {}).get("text") or document["choices"][0]["delta"]["content"]
        assert text == VOCABULARY[17] + " "


def test_full_bodies_carry_the_words_and_usage() -> None:
    reply = Reply(response_id="x", model="m", prompt_tokens=3, created=1, include_usage=False)
    words = [1, 2, 3, 4]
    openai_body = orjson.loads(OpenAIChat().full_body(reply, words, truncated=True))
    assert count_tokens(openai_body["choices"][0]["message"]["content"]) == 4
    assert openai_body["choices"][0]["finish_reason"] == "length"
    assert openai_body["usage"]["total_tokens"] == 7
    anthropic_body = orjson.loads(AnthropicMessages().full_body(reply, words, truncated=False))
    assert count_tokens(anthropic_body["content"][0]["text"]) == 4
    assert anthropic_body["stop_reason"] == "end_turn"
    assert anthropic_body["usage"]["output_tokens"] == 4


def test_split_template_needs_its_slot() -> None:
    with pytest.raises(ValueError):
        split_template({"a": 1})


def test_openai_chunks_carry_usage_null_only_when_usage_was_asked_for() -> None:
    for include_usage in (False, True):
        reply = Reply(
            response_id="x", model="m", prompt_tokens=3, created=1, include_usage=include_usage
        )
        shape = OpenAIChat().stream_shape(reply)
        events = [
            shape.opening(),
            shape.token(0),
            *shape.closing(1, truncated=False).split(b"\n\n")[:-2],
        ]
        chunks = [orjson.loads(event.removeprefix(b"data: ")) for event in events if event]
        if include_usage:
            assert [chunk["usage"] is None for chunk in chunks] == [True, True, True, False]
            assert chunks[-1]["choices"] == []
            assert chunks[-1]["usage"]["completion_tokens"] == 1
        else:
            assert all("usage" not in chunk for chunk in chunks)
        assert shape.closing(1, truncated=False).endswith(b"data: [DONE]\n\n")
