"""SSE framing and decoding: exact events for the rules LLM APIs rely on; any bytes in any
chunking decode without raising and to the same events; frames built decode back."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.api.sse import (
    SseDecoder,
    data_frame,
    event_frame,
    frame_event,
    next_frame,
)


def _decode(chunks: list[bytes]) -> tuple[list[tuple[str, str]], str | None]:
    decoder = SseDecoder(max_line_bytes=64)
    events: list[tuple[str, str]] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        while (event := decoder.next_event()) is not None:
            events.append(event)
    return events, decoder.error


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def test_events_names_multiline_data_comments_and_line_endings() -> None:
    stream = (
        b": a comment\r\n"
        b"event: message_start\r\n"
        b'data: {"a": 1}\r\n\r\n'
        b"data: one\n"
        b"data:two\n"
        b"data\n"
        b"id: 7\nretry: 10\nunknown: x\n\n"
        b"data: lone cr\r\r"
        b"event: only-a-name\n\n"
    )
    events, error = _decode([stream])
    assert error is None
    assert events == [
        ("message_start", '{"a": 1}'),
        ("message", "one\ntwo\n"),
        ("message", "lone cr"),
        ("only-a-name", ""),
    ]


def test_a_crlf_split_between_chunks_is_one_line_end() -> None:
    events, _ = _decode([b"data: x\r", b"\n\r", b"\n"])
    assert events == [("message", "x")]


def test_an_event_is_not_dispatched_before_its_blank_line() -> None:
    decoder = SseDecoder()
    decoder.receive_data(b"data: half")
    assert decoder.next_event() is None and decoder.pending()
    decoder.receive_data(b"\n\n")
    assert decoder.events() == [("message", "half")]
    assert not decoder.pending()


def test_broken_streams_set_the_error_and_stop_decoding() -> None:
    events, error = _decode([b"data: ok\n\n", b"data: \xff\xfe\n\n", b"data: later\n\n"])
    assert events == [("message", "ok")]
    assert error is not None and "not UTF-8" in error
    events, error = _decode([b"data: " + b"x" * 100])
    assert events == [] and error == "event-stream line longer than 64 bytes"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=12))
def test_any_bytes_in_any_chunking_decode_alike_without_raising(
    data: bytes, cuts: list[int]
) -> None:
    whole = _decode([data])
    assert _decode(_cut(data, cuts)) == whole
    assert _decode([bytes([b]) for b in data]) == whole


_LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=30,
)
_FRAMES = st.lists(
    st.tuples(st.one_of(st.none(), _LINE_TEXT.filter(lambda t: t.strip() == t and t)), _LINE_TEXT),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(_FRAMES, st.lists(st.integers(0, 2000), max_size=10))
def test_built_frames_decode_back_in_any_chunking(
    frames: list[tuple[str | None, str]], cuts: list[int]
) -> None:
    stream = b"".join(
        data_frame(data.encode()) if name is None else event_frame(name, data.encode())
        for name, data in frames
    )
    decoder = SseDecoder()
    for chunk in _cut(stream, cuts):
        decoder.receive_data(chunk)
    assert decoder.events() == [(name or "message", data) for name, data in frames]
    rest, split = stream, []
    while (found := next_frame(rest)) is not None:
        frame, rest = found
        split.append(frame_event(frame))
    assert rest == b""
    assert split == [(name or "message", data) for name, data in frames]


def test_frames_are_byte_exact() -> None:
    assert data_frame(b"[DONE]") == b"data: [DONE]\n\n"
    assert event_frame("ping", b'{"type":"ping"}') == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_next_frame_takes_the_earliest_separator_of_any_kind() -> None:
    assert next_frame(b"data: a\r\n\r\ndata: b\n\n") == (b"data: a\r\n\r\n", b"data: b\n\n")
    assert next_frame(b"data: a\n\ndata: b\r\r") == (b"data: a\n\n", b"data: b\r\r")
    assert next_frame(b"data: incomplete\n") is None
    assert frame_event(b": comment only\n\n") is None
