"""OpenAI chat completions on the wire: exact request bodies and headers, exact chunk and error
bytes, and what each kind of chunk decodes to."""

from __future__ import annotations

import orjson
import pytest

from harness.api.errors import ErrorKind
from harness.api.openai_chat import OpenAIChat
from harness.api.rendering import Reply
from harness.api.requests import OutgoingRequest
from harness.api.wire_api import EventKind, StreamEvent, stream_event
from harness.contract.prompt_text import VOCABULARY

_REPLY = Reply(
    response_id="chatcmpl-tokenstorm01",
    model="m",
    prompt_tokens=5,
    created=9,
    include_usage=True,
    cached_tokens=2,
)
_BASE = (
    b'"id":"chatcmpl-tokenstorm01","object":"chat.completion.chunk","created":9,"model":"m",'
    b'"system_fingerprint":"fp_tokenstorm"'
)


def test_request_body_and_headers() -> None:
    api = OpenAIChat()
    messages = [{"role": "user", "content": "hi"}]
    assert api.request_body(OutgoingRequest("m", messages, 7, True)) == {
        "model": "m",
        "messages": messages,
        "max_tokens": 7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "stream_options" not in api.request_body(OutgoingRequest("m", messages, 7, False))
    assert api.request_headers("k") == {"Authorization": "Bearer k"}
    assert api.request_headers(None) == {}


def test_stream_bytes_are_exact() -> None:
    shape = OpenAIChat().stream_shape(_REPLY)
    word = VOCABULARY[0]
    assert shape.opening() == (
        b"data: {" + _BASE + b',"choices":[{"index":0,"delta":{"role":"assistant","content":"",'
        b'"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    )
    token = shape.token(0)
    assert token == (
        b"data: {"
        + _BASE
        + b',"choices":[{"index":0,"delta":{"content":"'
        + word.encode()
        + b' "},"logprobs":null,"finish_reason":null}],"usage":null}\n\n'
    )
    assert shape.chunk(0) == f"{len(token):x}".encode() + b"\r\n" + token + b"\r\n"
    closing = shape.closing(1, truncated=True)
    assert b'"finish_reason":"length"' in closing
    assert closing.endswith(
        b'"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6,'
        b'"prompt_tokens_details":{"cached_tokens":2},'
        b'"completion_tokens_details":{"reasoning_tokens":0}}}\n\ndata: [DONE]\n\n'
    )


def test_tool_streams_open_the_call_and_finish_with_tool_calls() -> None:
    reply = Reply("chatcmpl-tokenstorm01", "m", 5, 9, False, tool_name="lookup")
    shape = OpenAIChat().stream_shape(reply)
    opening = orjson.loads(shape.opening().removeprefix(b"data: "))
    call = opening["choices"][0]["delta"]["tool_calls"][0]
    assert call == {
        "index": 0,
        "id": "call_01",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"query": "'},
    }
    assert b'"finish_reason":"tool_calls"' in shape.closing(0, truncated=False)


def test_error_bodies_and_events_are_exact() -> None:
    api = OpenAIChat()
    assert api.error_body(ErrorKind.RATE_LIMIT, "slow down", None, "req") == (
        b'{"error":{"message":"slow down","type":"requests","param":null,'
        b'"code":"rate_limit_exceeded"}}'
    )
    assert api.error_body(ErrorKind.INVALID_REQUEST, "bad", "model", None) == (
        b'{"error":{"message":"bad","type":"invalid_request_error","param":"model","code":null}}'
    )
    assert api.error_event(ErrorKind.SERVER_ERROR, "boom") == (
        b'data: {"error":{"message":"boom","type":"server_error","param":null,"code":null}}\n\n'
    )
    assert api.rate_limit_headers("2s")["x-ratelimit-reset-requests"] == "2s"
    assert api.error_message({"error": {"message": "nope"}}) == "nope"
    assert api.error_message(["not", "an", "error"]) is None


@pytest.mark.parametrize(
    ("event", "data", "expected"),
    [
        ("message", "[DONE]", stream_event(EventKind.END)),
        ("error", "upstream gone", stream_event(EventKind.ERROR, error="upstream gone")),
        (
            "message",
            '{"model":"m","choices":[{"delta":{"role":"assistant","content":""}}]}',
            stream_event(EventKind.OTHER, model="m"),
        ),
        (
            "message",
            '{"choices":[{"delta":{"content":"hi "}}]}',
            stream_event(EventKind.TEXT, "hi "),
        ),
        ("message", '{"choices":[{"delta":{"refusal":"no"}}]}', stream_event(EventKind.TEXT)),
        (
            "message",
            '{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"q"}}]}}]}',
            stream_event(EventKind.TOOL_CALL, '{"q'),
        ),
        (
            "message",
            '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}',
            stream_event(EventKind.OTHER, usage={"prompt_tokens": 3, "completion_tokens": 1}),
        ),
    ],
)
def test_chunks_decode_to_their_meaning(event: str, data: str, expected: StreamEvent) -> None:
    decoded = OpenAIChat().decode_event(event, data)
    assert decoded[:5] == expected[:5]


def test_in_band_errors_and_malformed_chunks() -> None:
    api = OpenAIChat()
    decoded = api.decode_event("message", '{"error":{"message":"overloaded"}}')
    assert (decoded[0], decoded[4]) == (EventKind.ERROR, '{"message":"overloaded"}')
    with pytest.raises(ValueError, match="chunk is not a JSON object"):
        api.decode_event("message", "[1]")
    with pytest.raises(ValueError):
        api.decode_event("message", api.malformed_event().decode().removeprefix("data: "))


def test_usage_reading_keeps_what_a_part_does_not_carry() -> None:
    class Counts:
        prompt_tokens: int | None = 5
        completion_tokens: int | None = None
        cached_tokens: int | None = None
        cache_write_tokens: int | None = None

    counts = Counts()
    api = OpenAIChat()
    api.read_usage({"completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 3}}, counts)
    assert (counts.prompt_tokens, counts.completion_tokens, counts.cached_tokens) == (5, 9, 3)
    api.read_usage({"prompt_tokens": 11, "completion_tokens": 9}, counts)
    assert (counts.prompt_tokens, counts.cached_tokens, counts.cache_write_tokens) == (11, 0, None)


def test_without_usage_drops_a_usage_only_chunk_and_nulls_the_rest() -> None:
    api = OpenAIChat()
    assert api.without_usage({"choices": [], "usage": {"prompt_tokens": 1}}) is None
    kept = api.without_usage({"choices": [{"delta": {}}], "usage": {"prompt_tokens": 1}})
    assert kept == {"choices": [{"delta": {}}], "usage": None}
    assert api.event_frame("message", {"a": 1}) == b'data: {"a":1}\n\n'
