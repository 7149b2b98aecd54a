"""Pre-framed token chunks: every stream shape's ``chunk(word)`` is exactly its ``token(word)``
framed as one HTTP/1.1 chunk, the tables behind it are shared by a flavour's streams, and
``WireSink`` puts on the transport the bytes the chunked encoding of its events would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.api.anthropic_messages import AnthropicMessages
from harness.api.openai_chat import OpenAIChat
from harness.api.openai_completions import OpenAICompletions
from harness.api.rendering import WORD_JSON, Reply, StreamShape, WordTails
from harness.contract.prompt_text import VOCABULARY
from mock_models.http.wire import WireSink
from mock_models.settings import constant_settings

Serving = Callable[..., AbstractAsyncContextManager[str]]
_FLAVOURS = (OpenAIChat(), OpenAICompletions(), AnthropicMessages())
_WORDS = st.integers(min_value=0, max_value=len(VOCABULARY) - 1)


def _framed(data: bytes) -> bytes:
    """The chunked transfer coding of ``data`` as one chunk (RFC 9112, section 7.1)."""
    return f"{len(data):x}".encode() + b"\r\n" + data + b"\r\n"


def _reply(
    response_id: str, model: str, created: int, include_usage: bool, tool_name: str | None
) -> Reply:
    return Reply(
        response_id=response_id,
        model=model,
        prompt_tokens=7,
        created=created,
        include_usage=include_usage,
        tool_name=tool_name,
    )


def _text_of_event(event: bytes) -> str:
    """The token text an SSE event of any flavour carries."""
    data = event.split(b"data: ", 1)[1]
    document = orjson.loads(data)
    if "choices" in document:
        choice = document["choices"][0]
        if "text" in choice:
            return str(choice["text"])
        delta = choice["delta"]
        return str(
            delta["content"]
            if "content" in delta
            else delta["tool_calls"][0]["function"]["arguments"]
        )
    delta = document["delta"]
    return str(delta.get("text", delta.get("partial_json")))


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(_WORDS, min_size=1, max_size=30),
    response_id=st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40),
    model=st.text(min_size=1, max_size=30),
    created=st.integers(0, 2**40),
    include_usage=st.booleans(),
    tool=st.sampled_from([None, "lookup"]),
)
def test_a_chunk_is_its_token_framed_whatever_the_answer(
    words: list[int],
    response_id: str,
    model: str,
    created: int,
    include_usage: bool,
    tool: str | None,
) -> None:
    for flavour in _FLAVOURS:
        shape = flavour.stream_shape(_reply(response_id, model, created, include_usage, tool))
        for word in words:
            event = shape.token(word)
            assert shape.chunk(word) == _framed(event)
            assert _text_of_event(event) == VOCABULARY[word] + " "


def test_every_word_of_the_vocabulary_frames_right() -> None:
    reply = _reply("chatcmpl-tokenstorm00000000000000ab", "mock", 1_700_000_000, False, None)
    for flavour in _FLAVOURS:
        shape = flavour.stream_shape(reply)
        for word in range(len(WORD_JSON)):
            assert shape.chunk(word) == _framed(shape.token(word))


def test_a_flavours_streams_share_one_tail_table_per_suffix() -> None:
    flavour = OpenAIChat()
    first = flavour.stream_shape(_reply("a", "m", 1, False, None))
    second = flavour.stream_shape(_reply("bb", "other-model", 2, False, None))
    with_usage = flavour.stream_shape(_reply("c", "m", 3, True, None))
    # The tables are shared, not copied per stream (that is the memory they would cost).
    assert first._tails is second._tails
    assert first._tails is not with_usage._tails


def test_word_tails_stop_keeping_tables_past_their_cap() -> None:
    tails = WordTails(max_tables=1)
    kept = tails.of(b"}\n\n")
    assert tails.of(b"}\n\n") is kept
    other = tails.of(b"]}\n\n")
    assert other == tuple(word + b"]}\n\n\r\n" for word in WORD_JSON)
    assert tails.of(b"]}\n\n") is not other


class _Transport:
    """Records each write; closing on demand."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing


def _sink(
    shape: StreamShape | None, words: tuple[int, ...], limit: int, piece_bytes: int = 0
) -> tuple[WireSink, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    return WireSink(shape, words, limit, loop.create_future(), piece_bytes), loop


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(_WORDS, min_size=1, max_size=40),
    counts=st.lists(st.integers(1, 4), min_size=1, max_size=40),
    held=st.integers(0, 3),
)
def test_the_sink_writes_the_chunked_coding_of_its_events(
    words: list[int], counts: list[int], held: int
) -> None:
    shape = OpenAIChat().stream_shape(_reply("chatcmpl-x", "mock", 5, True, None))
    sink, loop = _sink(shape, tuple(words), len(words))
    try:
        expected: list[bytes] = []
        transport = _Transport()
        sent = 0
        # Tokens made before the connection is attached go out together on attach.
        if held:
            held = min(held, len(words))
            for _ in range(held):
                assert sink.emit(1) == (sent + 1 < len(words))
                sent += 1
            expected.append(_framed(b"".join(shape.token(w) for w in words[:held])))
        sink.attach(transport)  # type: ignore[arg-type]
        for count in counts:
            if sent >= len(words):
                break
            end = min(sent + count, len(words))
            wants_more = sink.emit(count)
            assert wants_more == (end < len(words))
            # A token alone is one chunk; late ones share one chunk, as before.
            expected.append(_framed(b"".join(shape.token(w) for w in words[sent:end])))
            sent = end
        assert transport.writes == expected
        assert sink.tokens == sent
        assert sink.done.done() == (sent == len(words))
    finally:
        loop.close()


def test_the_sink_writes_nothing_once_stopped_or_closing_and_says_it_wants_no_more() -> None:
    shape = AnthropicMessages().stream_shape(_reply("msg_x", "m", 1, False, None))
    sink, loop = _sink(shape, (1, 2, 3, 4), 4)
    try:
        transport = _Transport()
        sink.attach(transport)  # type: ignore[arg-type]
        assert sink.emit(1) is True
        transport.closing = True
        assert sink.emit(1) is True  # counted, not written: the client is gone
        assert len(transport.writes) == 1
        sink.stop()
        assert sink.emit(1) is False
        assert sink.tokens == 2
    finally:
        loop.close()


def test_a_fragmenting_sink_frames_each_piece() -> None:
    shape = OpenAIChat().stream_shape(_reply("chatcmpl-y", "mock", 5, False, None))
    sink, loop = _sink(shape, (10, 20), 2, piece_bytes=16)
    try:
        transport = _Transport()
        sink.attach(transport)  # type: ignore[arg-type]
        sink.token()
        event = shape.token(10)
        assert len(transport.writes) > 1
        body = b""
        for write in transport.writes:
            size, rest = write.split(b"\r\n", 1)
            assert rest.endswith(b"\r\n") and len(rest) - 2 == int(size, 16) <= 16
            body += rest[:-2]
        assert body == event
    finally:
        loop.close()


def test_a_counting_sink_counts_without_a_shape() -> None:
    sink, loop = _sink(None, (1, 2, 3), 3)
    try:
        assert sink.emit(2) is True
        assert sink.emit(5) is False
        assert sink.tokens == 3 and sink.done.done()
    finally:
        loop.close()


def _dechunk(body: bytes) -> tuple[bytes, int]:
    """The payload of a chunked body and its number of chunks; fails on bad framing."""
    payload, chunks = b"", 0
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            assert body == b"\r\n"
            return payload, chunks
        assert body[size : size + 2] == b"\r\n"
        payload, body, chunks = payload + body[:size], body[size + 2 :], chunks + 1


async def _raw_stream(base_url: str, path: str, document: dict[str, object]) -> bytes:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    body = orjson.dumps(document)
    writer.write(
        b"POST %b HTTP/1.1\r\nhost: %b\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%b"
        % (path.encode(), host.encode(), len(body), body)
    )
    raw = await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    return raw


def test_streams_on_the_wire_are_well_framed_with_headers_first(serving: Serving) -> None:
    messages = [{"role": "user", "content": "frame this"}]

    async def scenario() -> list[bytes]:
        async with serving(constant_settings(ttft_ms=0, itl_ms=1, output_tokens=6)) as url:
            return [
                await _raw_stream(
                    url,
                    "/v1/chat/completions",
                    {"model": "m", "stream": True, "messages": messages},
                ),
                # No opening events here: the headers must still go out first, on their own.
                await _raw_stream(
                    url, "/v1/completions", {"model": "m", "stream": True, "prompt": "frame this"}
                ),
                await _raw_stream(
                    url,
                    "/v1/messages",
                    {"model": "m", "stream": True, "max_tokens": 6, "messages": messages},
                ),
            ]

    chat, completion, message = asyncio.run(scenario())
    for raw, texts_key in (
        (chat, b'"content":"'),
        (completion, b'"text":"'),
        (message, b'"text_delta"'),
    ):
        head, body = raw.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"transfer-encoding: chunked" in head.lower()
        payload, chunks = _dechunk(body)
        events = [event for event in payload.split(b"\n\n") if event]
        assert sum(texts_key in event for event in events) >= 6
        assert chunks >= 2
    assert payload.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert chat.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")
    assert completion.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")
