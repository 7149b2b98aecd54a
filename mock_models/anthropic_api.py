"""Anthropic messages flavour of the mock: request bodies in, ``message`` objects, the
message_start … message_stop SSE sequence and Anthropic error bodies out."""

from __future__ import annotations

from typing import Any, Final

import orjson

from harness.contract.prompt_text import count_tokens
from mock_models.explicit_cache import TTL_1H_S, TTL_5M_S, Breakpoint
from mock_models.flavour import (
    ANTHROPIC_NO_MODEL,
    TOKEN_SLOT,
    ErrorKind,
    ParsedRequest,
    Reply,
    RequestError,
    TokenTemplate,
    WordTails,
    decode_object,
    positive_int,
    required_model,
    split_template,
    text_of,
    text_pieces,
)
from mock_models.stop_words import parse_stop
from mock_models.tools import ARGUMENTS_CLOSE, ARGUMENTS_OPEN, arguments_text

API: Final = "anthropic-messages"

_ERROR_TYPES: Final[dict[ErrorKind, str]] = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.SERVER_ERROR: "api_error",
    ErrorKind.OVERLOADED: "overloaded_error",
    ErrorKind.AUTHENTICATION: "authentication_error",
    ErrorKind.UNSUPPORTED_CONTENT_TYPE: "invalid_request_error",
}


def _event(name: str, document: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(document) + b"\n\n"


def _usage(reply: Reply, output_tokens: int) -> dict[str, Any]:
    # Anthropic's input_tokens leaves out the tokens read from and written to the cache.
    written = reply.cache_write_tokens
    return {
        "input_tokens": reply.prompt_tokens - reply.cached_tokens - written,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": written - reply.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": reply.cache_write_1h_tokens,
        },
    }


MAX_BREAKPOINTS: Final = 4
_TTLS_S: Final = {"5m": TTL_5M_S, "1h": TTL_1H_S}


def _breakpoint(marker: Any, block_index: int, where: str) -> Breakpoint:
    if not isinstance(marker, dict) or marker.get("type") != "ephemeral":
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            f"{where}.cache_control.type: Input should be 'ephemeral'",
            f"{where}.cache_control",
        )
    ttl = marker.get("ttl", "5m")
    if ttl not in _TTLS_S:
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            f"{where}.cache_control.ttl: Input should be '5m' or '1h'",
            f"{where}.cache_control",
        )
    return Breakpoint(block_index, _TTLS_S[ttl])


def _blocks(content: Any, pieces: list[str], marks: list[Breakpoint], where: str) -> None:
    """Append the text of ``content`` to ``pieces``, and a breakpoint for each block that
    carries ``cache_control`` (on the last piece so far: a block without text marks the
    prefix before it)."""
    if not isinstance(content, list):
        text_pieces(content, pieces)
        return
    for index, part in enumerate(content):
        text_pieces([part], pieces)
        marker = part.get("cache_control") if isinstance(part, dict) else None
        if marker is not None and pieces:
            marks.append(_breakpoint(marker, len(pieces) - 1, f"{where}.{index}"))


def _count_marks(tools: Any) -> int:
    """Breakpoints on tool definitions (they count towards the limit; the mock does not
    count tool definitions as prompt tokens, so they cache nothing here)."""
    if not isinstance(tools, list):
        return 0
    return sum(1 for tool in tools if isinstance(tool, dict) and tool.get("cache_control"))


def _stop_reason(reply: Reply, truncated: bool) -> str:
    if truncated:
        return "max_tokens"
    if reply.stop_sequence is not None:
        return "stop_sequence"
    return "end_turn" if reply.tool_name is None else "tool_use"


def _tool_id(reply: Reply) -> str:
    return "toolu_" + reply.response_id.rsplit("tokenstorm", 1)[-1]


def _empty_block(reply: Reply) -> dict[str, Any]:
    if reply.tool_name is None:
        return {"type": "text", "text": ""}
    return {"type": "tool_use", "id": _tool_id(reply), "name": reply.tool_name, "input": {}}


def _json_delta(fragment: str) -> bytes:
    return _event(
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": fragment},
        },
    )


def _tools(body: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(
        isinstance(tool, dict) and isinstance(tool.get("name"), str) for tool in tools
    ):
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            "tools: each tool must be an object with a name",
            "tools",
        )
    names = tuple(tool["name"] for tool in tools)
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        if choice.get("name") not in names:
            raise RequestError(
                400,
                ErrorKind.INVALID_REQUEST,
                "tool_choice: names a tool not in tools",
                "tool_choice",
            )
        return names, f"tool:{choice['name']}"
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
    if mapped is None:
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            "tool_choice: type must be auto, any, tool or none",
            "tool_choice",
        )
    return names, mapped


def _message(
    reply: Reply, content: list[dict[str, Any]], stop_reason: str | None, output_tokens: int
) -> dict[str, Any]:
    return {
        "id": reply.response_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": _usage(reply, output_tokens),
    }


class AnthropicStream(TokenTemplate):
    """SSE events of one streamed message (a single text block at index 0)."""

    __slots__ = ("_reply",)

    def __init__(self, reply: Reply, tails: WordTails) -> None:
        self._reply = reply
        # A tool call's tokens are fragments of its input JSON (see mock_models.tools).
        delta = (
            {"type": "text_delta", "text": TOKEN_SLOT}
            if reply.tool_name is None
            else {"type": "input_json_delta", "partial_json": TOKEN_SLOT}
        )
        prefix, suffix = split_template({"type": "content_block_delta", "index": 0, "delta": delta})
        self._set_template(b"event: content_block_delta\ndata: " + prefix, suffix + b"\n\n", tails)

    def opening(self) -> bytes:
        reply = self._reply
        events = [
            _event(
                "message_start", {"type": "message_start", "message": _message(reply, [], None, 1)}
            ),
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": _empty_block(reply)},
            ),
            _event("ping", {"type": "ping"}),
        ]
        if reply.tool_name is not None:
            events.append(_json_delta(ARGUMENTS_OPEN))
        return b"".join(events)

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        reply = self._reply
        return b"".join(
            (
                b"" if reply.tool_name is None else _json_delta(ARGUMENTS_CLOSE),
                _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
                _event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": _stop_reason(reply, truncated),
                            "stop_sequence": reply.stop_sequence,
                        },
                        "usage": _usage(self._reply, completion_tokens),
                    },
                ),
                _event("message_stop", {"type": "message_stop"}),
            )
        )


class AnthropicMessages:
    """The ``POST /v1/messages`` flavour."""

    api: Final = API
    id_header: Final = "request-id"

    def __init__(self) -> None:
        self._tails = WordTails()

    def parse(self, raw: bytes) -> ParsedRequest:
        body = decode_object(raw)
        model = required_model(body, ANTHROPIC_NO_MODEL)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(
                400,
                ErrorKind.INVALID_REQUEST,
                "messages: at least one message is required",
                "messages",
            )
        if "max_tokens" not in body:
            raise RequestError(
                400, ErrorKind.INVALID_REQUEST, "max_tokens: Field required", "max_tokens"
            )
        max_tokens = positive_int(body["max_tokens"], "max_tokens")
        pieces: list[str] = []
        marks: list[Breakpoint] = []
        marked_tools = _count_marks(body.get("tools"))
        _blocks(body.get("system"), pieces, marks, "system")
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                raise RequestError(
                    400,
                    ErrorKind.INVALID_REQUEST,
                    "messages: each message must be an object",
                    "messages",
                )
            _blocks(message.get("content"), pieces, marks, f"messages.{index}.content")
        if len(marks) + marked_tools > MAX_BREAKPOINTS:
            raise RequestError(
                400,
                ErrorKind.INVALID_REQUEST,
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be "
                f"provided. Found {len(marks) + marked_tools}.",
            )
        prompt_tokens = sum(count_tokens(piece) for piece in pieces)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise RequestError(
                400, ErrorKind.INVALID_REQUEST, "stream: Input should be a boolean", "stream"
            )
        tools, tool_choice = _tools(body)
        return ParsedRequest(
            model=model,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            stream=stream,
            include_usage=True,
            prompt_pieces=tuple(pieces),
            tools=tools,
            tool_choice=tool_choice,
            stop=parse_stop(body.get("stop_sequences"), "stop_sequences"),
            cache_breakpoints=tuple(marks),
        )

    def response_id(self, digest: int) -> str:
        return f"msg_tokenstorm{digest:016x}"

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str
    ) -> bytes:
        return orjson.dumps(
            {
                "type": "error",
                "error": {"type": _ERROR_TYPES[kind], "message": message},
                "request_id": request_id,
            }
        )

    def stream_shape(self, reply: Reply) -> AnthropicStream:
        return AnthropicStream(reply, self._tails)

    def full_body(self, reply: Reply, words: list[int], truncated: bool) -> bytes:
        content: list[dict[str, Any]] = [{"type": "text", "text": text_of(words)}]
        if reply.tool_name is not None:
            content = [{**_empty_block(reply), "input": orjson.loads(arguments_text(words))}]
        return orjson.dumps(_message(reply, content, _stop_reason(reply, truncated), len(words)))
