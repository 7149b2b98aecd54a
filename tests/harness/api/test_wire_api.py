"""Every registered API against the ``WireApi`` contract: a request built by the client parses
back to what was planned; a streamed or whole answer the mock renders decodes back to its
text, tool arguments and usage, in any chunking of the bytes."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.api.registry import WIRE_APIS, api_for_path, wire_api
from harness.api.rendering import Reply, arguments_text, text_of
from harness.api.requests import OutgoingRequest
from harness.api.sse import SseDecoder
from harness.api.wire_api import EventKind
from harness.client.answer import Answer
from harness.contract.apis import (
    ANTHROPIC_MESSAGES,
    OPENAI_CHAT,
    OPENAI_COMPLETIONS,
    OPENAI_EMBEDDINGS,
)
from harness.contract.prompt_text import VOCABULARY, count_tokens

_GENERATING = (OPENAI_CHAT, OPENAI_COMPLETIONS, ANTHROPIC_MESSAGES)
_WORDS = st.lists(st.integers(0, len(VOCABULARY) - 1), max_size=25)
_TEXT = st.text(alphabet="abc xyz", min_size=1, max_size=40).filter(str.strip)


def test_every_api_is_registered_under_its_own_name_and_path() -> None:
    assert list(WIRE_APIS) == [
        OPENAI_CHAT,
        OPENAI_COMPLETIONS,
        OPENAI_EMBEDDINGS,
        ANTHROPIC_MESSAGES,
    ]
    for name in WIRE_APIS:
        api = wire_api(name)
        assert api.name == name
        assert api_for_path("/v1" + api.path) == name
        assert api_for_path("/v1" + api.path + "/") == name
    assert wire_api(OPENAI_CHAT) is not wire_api(OPENAI_CHAT)  # no shared tables
    assert api_for_path("/v1/models") is None
    with pytest.raises(ValueError, match="unknown api 'gemini'"):
        wire_api("gemini")


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(list(WIRE_APIS)),
    system=st.one_of(st.none(), _TEXT),
    turns=st.lists(_TEXT, min_size=1, max_size=4),
    max_tokens=st.integers(1, 4096),
    stream=st.booleans(),
)
def test_a_built_request_parses_back_to_what_was_planned(
    name: str, system: str | None, turns: list[str], max_tokens: int, stream: bool
) -> None:
    api = wire_api(name)
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": turn} for turn in turns]
    planned = OutgoingRequest("m-1", messages, max_tokens, stream)
    parsed = api.parse(orjson.dumps(api.request_body(planned)))
    assert parsed.model == "m-1"
    texts = [m["content"] for m in messages]
    assert parsed.prompt_tokens == sum(count_tokens(text) for text in texts)
    if name == OPENAI_EMBEDDINGS:
        assert parsed.prompt_pieces == tuple(texts) and not parsed.stream
        return
    assert " ".join(parsed.prompt_pieces).split() == " ".join(texts).split()
    usage = stream or name == ANTHROPIC_MESSAGES  # Anthropic always reports usage
    assert (parsed.max_tokens, parsed.stream, parsed.include_usage) == (max_tokens, stream, usage)


def _reply(tool: str | None, cached: int, include_usage: bool = True) -> Reply:
    return Reply(
        response_id="x-tokenstorm00ff",
        model="m-1",
        prompt_tokens=40,
        created=7,
        include_usage=include_usage,
        cached_tokens=cached,
        tool_name=tool,
    )


def _finish(name: str, tool: str | None, truncated: bool) -> str:
    """The finish reason each API names for the mock's answer (its own spelling)."""
    if name == ANTHROPIC_MESSAGES:
        return "max_tokens" if truncated else "tool_use" if tool else "end_turn"
    return "length" if truncated else "tool_calls" if tool else "stop"


@settings(max_examples=80, deadline=None)
@given(
    name=st.sampled_from(_GENERATING),
    words=_WORDS,
    tool=st.sampled_from([None, "lookup"]),
    cached=st.integers(0, 40),
    truncated=st.booleans(),
    cuts=st.lists(st.integers(0, 5000), max_size=8),
)
def test_a_rendered_stream_decodes_back_to_its_content_and_usage(
    name: str,
    words: list[int],
    tool: str | None,
    cached: int,
    truncated: bool,
    cuts: list[int],
) -> None:
    api = wire_api(name)
    if name == OPENAI_COMPLETIONS:
        tool = None  # text completions call no tools
    shape = api.stream_shape(_reply(tool, cached))
    stream = shape.opening() + b"".join(shape.token(w) for w in words)
    stream += shape.closing(len(words), truncated)
    points = sorted({min(c, len(stream)) for c in cuts})
    decoder = SseDecoder()
    for a, b in zip([0, *points], [*points, len(stream)], strict=True):
        decoder.receive_data(stream[a:b])
    assert decoder.error is None and not decoder.pending()
    events = decoder.events()
    fragments = (
        [
            text
            for kind, text, *_ in map(api.decode_event, *zip(*events, strict=True))
            if kind is EventKind.TOOL_CALL
        ]
        if events
        else []
    )
    answer = Answer(text_parts=[])
    answer.take_events(events, api, api.decode_event, 1.0)
    assert answer.terminated and answer.error is None and answer.model == "m-1"
    assert (answer.prompt_tokens, answer.cached_tokens) == (40, cached)
    assert answer.finish_reason == _finish(name, tool, truncated)
    assert answer.completion_tokens == len(words)
    if tool is None:
        assert "".join(answer.text_parts or ()) == text_of(words)
        assert answer.content_events == sum(1 for _ in words)
    else:
        assert "".join(fragments) == arguments_text(words)
        assert answer.text_parts == []


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(_GENERATING),
    words=_WORDS,
    tool=st.sampled_from([None, "lookup"]),
    cached=st.integers(0, 40),
)
def test_a_rendered_body_decodes_back_to_its_text_and_usage(
    name: str, words: list[int], tool: str | None, cached: int
) -> None:
    api = wire_api(name)
    if name == OPENAI_COMPLETIONS:
        tool = None
    body = api.decode_body(orjson.loads(api.full_body(_reply(tool, cached), words, False)))
    answer = Answer()
    answer.take_body(body, 1.0, api)
    assert answer.terminated and answer.model == "m-1"
    assert answer.finish_reason == body.finish == _finish(name, tool, False)
    assert (answer.prompt_tokens, answer.completion_tokens, answer.cached_tokens) == (
        40,
        len(words),
        cached,
    )
    assert body.text == ("" if tool else text_of(words))
    assert body.content == bool(words or tool)


def test_openai_chunks_without_usage_asked_carry_none() -> None:
    api = wire_api(OPENAI_CHAT)
    shape = api.stream_shape(_reply(None, 0, include_usage=False))
    answer = Answer()
    events = SseDecoder().feed(shape.opening() + shape.token(3) + shape.closing(1, False))
    answer.take_events(events, api, api.decode_event, 1.0)
    assert answer.terminated and answer.completion_tokens is None


def test_embeddings_refuse_to_stream() -> None:
    api = wire_api(OPENAI_EMBEDDINGS)
    with pytest.raises(ValueError, match="never generated or streamed"):
        api.stream_shape(_reply(None, 0))
    with pytest.raises(ValueError):
        api.decode_event("message", "{}")
