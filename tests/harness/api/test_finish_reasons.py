"""Finish and stop reasons as each generating API spells them on the wire, read from stream
events and whole bodies into ``Answer.finish_reason``: a guardrail's 200 answer that says
``content_filter`` (OpenAI) or ``refusal`` (Anthropic) must reach the record."""

from __future__ import annotations

import orjson
import pytest

from harness.api.anthropic_messages import AnthropicMessages
from harness.api.openai_chat import OpenAIChat
from harness.api.openai_completions import OpenAICompletions
from harness.api.wire_api import EventKind, WireApi
from harness.client.answer import Answer


def _stream(api: WireApi, events: list[tuple[str, object]]) -> Answer:
    answer = Answer(text_parts=[])
    wire = [
        (name, data if isinstance(data, str) else orjson.dumps(data).decode())
        for name, data in events
    ]
    answer.take_events(wire, api, api.decode_event, 1.0)
    return answer


def _body(api: WireApi, document: dict[str, object]) -> Answer:
    answer = Answer()
    answer.take_body(api.decode_body(document), 1.0, api)
    return answer


def _chat_chunk(delta: dict[str, object], finish: str | None) -> dict[str, object]:
    return {"model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@pytest.mark.parametrize(
    ("api", "events", "finish"),
    [
        (
            OpenAIChat(),
            [
                ("message", _chat_chunk({"role": "assistant", "content": ""}, None)),
                ("message", _chat_chunk({}, "content_filter")),
                ("message", "[DONE]"),
            ],
            "content_filter",
        ),
        (  # a server that names the reason on its last content chunk
            OpenAIChat(),
            [
                ("message", _chat_chunk({"content": "no"}, "content_filter")),
                ("message", "[DONE]"),
            ],
            "content_filter",
        ),
        (
            OpenAIChat(),
            [("message", _chat_chunk({"content": "hi"}, None)), ("message", "[DONE]")],
            None,
        ),
        (
            OpenAICompletions(),
            [
                ("message", {"choices": [{"text": "", "finish_reason": "content_filter"}]}),
                ("message", "[DONE]"),
            ],
            "content_filter",
        ),
        (
            AnthropicMessages(),
            [
                ("message_start", {"type": "message_start", "message": {"model": "m"}}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "refusal", "stop_sequence": None},
                        "usage": {"output_tokens": 0},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ],
            "refusal",
        ),
    ],
)
def test_a_stream_names_its_finish_reason(
    api: WireApi, events: list[tuple[str, object]], finish: str | None
) -> None:
    answer = _stream(api, events)
    assert answer.terminated and answer.error is None
    assert answer.finish_reason == finish


def test_the_reason_rides_on_the_event_that_carries_it() -> None:
    chat = OpenAIChat()
    text = chat.decode_event("message", orjson.dumps(_chat_chunk({"content": "a"}, None)).decode())
    last = chat.decode_event("message", orjson.dumps(_chat_chunk({}, "stop")).decode())
    assert (text[0], text[6]) == (EventKind.TEXT, None)
    assert (last[0], last[6]) == (EventKind.OTHER, "stop")
    anthropic = AnthropicMessages()
    assert anthropic.decode_event("message_delta", '{"type":"message_delta"}')[6] is None


@pytest.mark.parametrize(
    ("api", "document", "finish"),
    [
        (
            OpenAIChat(),
            {
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None},
                        "finish_reason": "content_filter",
                    }
                ],
            },
            "content_filter",
        ),
        (
            OpenAICompletions(),
            {"model": "m", "choices": [{"text": "", "finish_reason": "content_filter"}]},
            "content_filter",
        ),
        (OpenAICompletions(), {"model": "m", "choices": [{"text": "x"}]}, None),
        (
            AnthropicMessages(),
            {"type": "message", "model": "m", "content": [], "stop_reason": "refusal"},
            "refusal",
        ),
        (  # an error body after HTTP 200 names no reason
            AnthropicMessages(),
            {"type": "error", "error": {"type": "overloaded_error"}},
            None,
        ),
    ],
)
def test_a_whole_body_names_its_finish_reason(
    api: WireApi, document: dict[str, object], finish: str | None
) -> None:
    assert _body(api, document).finish_reason == finish
