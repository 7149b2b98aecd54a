"""Anthropic messages on the wire: where the client places prompt-cache breakpoints, how cache
usage is read and rendered, the exact event sequence and error bodies, and what each event
decodes to."""

from __future__ import annotations

import orjson
import pytest

from harness.api.anthropic_messages import AnthropicMessages
from harness.api.errors import ErrorKind
from harness.api.rendering import Reply
from harness.api.requests import TTL_1H_S, Breakpoint, OutgoingRequest, check_cache_control
from harness.api.sse import SseDecoder
from harness.api.wire_api import EventKind, StreamEvent, stream_event
from harness.client.answer import Answer
from harness.contract.apis import ANTHROPIC_MESSAGES, OPENAI_CHAT
from workloads.scenario import ScenarioError, parse_scenario

_MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "hello"},
    {"role": "user", "content": "more"},
]
_MARK = {"type": "ephemeral"}


def _body(mode: str, stream: bool = True) -> dict[str, object]:
    return AnthropicMessages().request_body(OutgoingRequest("m", _MESSAGES, 10, stream, mode))


def test_off_sends_plain_strings_and_version_headers() -> None:
    body = _body("off")
    assert body["system"] == "be brief"
    assert [m["content"] for m in body["messages"]] == ["hi", "hello", "more"]  # type: ignore[attr-defined]
    api = AnthropicMessages()
    assert api.request_headers("k") == {"anthropic-version": "2023-06-01", "x-api-key": "k"}
    assert api.request_headers(None) == {"anthropic-version": "2023-06-01"}


def test_system_marks_the_system_prompt_only() -> None:
    body = _body("system")
    assert body["system"] == [{"type": "text", "text": "be brief", "cache_control": _MARK}]
    assert [m["content"] for m in body["messages"]] == ["hi", "hello", "more"]  # type: ignore[attr-defined]


def test_conversation_also_marks_the_last_message_and_parses_back_to_breakpoints() -> None:
    body = _body("conversation", stream=False)
    assert body["messages"][-1] == {  # type: ignore[index]
        "role": "user",
        "content": [{"type": "text", "text": "more", "cache_control": _MARK}],
    }
    parsed = AnthropicMessages().parse(orjson.dumps(body))
    assert parsed.prompt_pieces == ("be brief", "hi", "hello", "more")
    assert parsed.cache_breakpoints == (Breakpoint(0), Breakpoint(3))


def test_a_one_hour_breakpoint_and_too_many_breakpoints() -> None:
    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    raw = orjson.dumps(
        {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [block]}]}
    )
    assert AnthropicMessages().parse(raw).cache_breakpoints == (Breakpoint(0, TTL_1H_S),)
    many = orjson.dumps(
        {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [block] * 5}]}
    )
    with pytest.raises(Exception, match="A maximum of 4 blocks"):
        AnthropicMessages().parse(many)


def test_cache_control_is_refused_for_openai_and_unknown_modes() -> None:
    check_cache_control(ANTHROPIC_MESSAGES, "conversation")
    with pytest.raises(ValueError, match="needs api = 'anthropic-messages'"):
        check_cache_control(OPENAI_CHAT, "system")
    with pytest.raises(ValueError, match="unknown cache_control 'always'"):
        check_cache_control(ANTHROPIC_MESSAGES, "always")
    with pytest.raises(ScenarioError, match="cache_control"):
        parse_scenario({"target": {"api": OPENAI_CHAT, "cache_control": "system"}}, "s.toml")


def test_cache_usage_adds_up_to_the_whole_prompt_both_ways() -> None:
    api = AnthropicMessages()
    reply = Reply(
        "msg_tokenstorm01", "m", 1507, 1, True, cached_tokens=1200, cache_write_tokens=300
    )
    document = orjson.loads(api.full_body(reply, [1, 2], truncated=False))
    assert document["usage"]["input_tokens"] == 7
    answer = Answer()
    answer.take_body(api.decode_body(document), 0.0, api)
    assert (answer.prompt_tokens, answer.cached_tokens, answer.cache_write_tokens) == (
        1507,
        1200,
        300,
    )
    api.read_usage({"output_tokens": 42}, answer)  # message_delta: output only
    assert (answer.prompt_tokens, answer.completion_tokens) == (1507, 42)


def test_the_event_sequence_is_exact() -> None:
    shape = AnthropicMessages().stream_shape(Reply("msg_tokenstorm01", "m", 3, 1, True))
    decoder = SseDecoder()
    decoder.receive_data(shape.opening() + shape.token(0) + shape.closing(1, truncated=False))
    names = [event for event, _ in decoder.events()]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert shape.token(0).startswith(
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"'
    )
    assert shape.closing(1, truncated=True).endswith(
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )


def test_error_bodies_and_events_are_exact() -> None:
    api = AnthropicMessages()
    assert api.error_body(ErrorKind.NOT_FOUND, "no such model", "model", "req_1") == (
        b'{"type":"error","error":{"type":"not_found_error","message":"no such model"},'
        b'"request_id":"req_1"}'
    )
    assert api.error_body(ErrorKind.TOO_LARGE, "big", None, None).endswith(b'"request_id":null}')
    assert api.error_event(ErrorKind.OVERLOADED, "Overloaded") == (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"}}\n\n'
    )
    assert api.rate_limit_headers("1s")["anthropic-ratelimit-requests-reset"] == "1s"


@pytest.mark.parametrize(
    ("event", "data", "expected"),
    [
        ("ping", '{"type": "ping"}', stream_event(EventKind.OTHER)),
        ("message_stop", '{"type":"message_stop"}', stream_event(EventKind.END)),
        (
            "content_block_delta",
            '{"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}',
            stream_event(EventKind.TEXT, "hi"),
        ),
        (
            "content_block_delta",
            '{"type":"content_block_delta","delta":{"type":"thinking_delta","thinking":"hm"}}',
            stream_event(EventKind.TEXT),
        ),
        (
            "content_block_delta",
            '{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":""}}',
            stream_event(EventKind.OTHER),
        ),
        (
            "message_start",
            '{"type":"message_start","message":{"model":"m","usage":{"input_tokens":3}}}',
            stream_event(EventKind.OTHER, usage={"input_tokens": 3}, model="m"),
        ),
        (
            "error",
            '{"type":"error","error":{"type":"overloaded_error"}}',
            stream_event(EventKind.ERROR, error='{"type":"overloaded_error"}'),
        ),
    ],
)
def test_events_decode_to_their_meaning(event: str, data: str, expected: StreamEvent) -> None:
    decoded = AnthropicMessages().decode_event(event, data)
    assert decoded[:5] == expected[:5]


def test_without_usage_strips_both_places() -> None:
    api = AnthropicMessages()
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 1}, "id": "x"}}
    assert api.without_usage(start) == {"type": "message_start", "message": {"id": "x"}}
    assert api.event_frame("message_delta", {"a": 1}) == b'event: message_delta\ndata: {"a":1}\n\n'
    with pytest.raises(ValueError):
        api.decode_event("content_block_delta", api.malformed_event().split(b"data: ")[1].decode())
