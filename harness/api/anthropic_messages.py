"""Anthropic messages (``POST /v1/messages``) on the wire: planned requests in, bodies
and headers out; ``Reply`` in, ``message`` objects and the message_start … message_stop events
out; events and bodies in, content and usage out.

Anthropic's ``input_tokens`` leaves out the tokens read from and written to the cache; ours is
the whole prompt, so reading usage adds the three, and rendering it subtracts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from harness.api.anthropic_request import parse_request, request_body
from harness.api.errors import ErrorKind, short
from harness.api.rendering import (
    ARGUMENTS_CLOSE,
    ARGUMENTS_OPEN,
    TOKEN_SLOT,
    Reply,
    TokenTemplate,
    WordTails,
    arguments_text,
    response_suffix,
    split_template,
    text_of,
)
from harness.api.requests import OutgoingRequest, ParsedRequest
from harness.api.sse import FRAME_END, event_frame, event_prefix
from harness.api.wire_api import BodyAnswer, EventKind, StreamEvent, TokenCounts, stream_event
from harness.contract.apis import ANTHROPIC_MESSAGES

VERSION: Final = "2023-06-01"

ERROR_TYPES: Final[Mapping[ErrorKind, str]] = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.QUOTA: "rate_limit_error",
    ErrorKind.SERVER_ERROR: "api_error",
    ErrorKind.BAD_GATEWAY: "api_error",
    ErrorKind.UNAVAILABLE: "api_error",
    ErrorKind.GATEWAY_TIMEOUT: "timeout_error",
    ErrorKind.OVERLOADED: "overloaded_error",
    ErrorKind.OVERLOADED_529: "overloaded_error",
    ErrorKind.CONTEXT_LENGTH: "invalid_request_error",
    ErrorKind.AUTHENTICATION: "authentication_error",
    ErrorKind.UNSUPPORTED_CONTENT_TYPE: "invalid_request_error",
    ErrorKind.TOO_LARGE: "request_too_large",
}

_OTHER: Final = stream_event(EventKind.OTHER)
_END: Final = stream_event(EventKind.END)


def _event(name: str, document: dict[str, Any]) -> bytes:
    return event_frame(name, orjson.dumps(document))


def _usage(reply: Reply, output_tokens: int) -> dict[str, Any]:
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


def _stop_reason(reply: Reply, truncated: bool) -> str:
    if truncated:
        return "max_tokens"
    if reply.stop_sequence is not None:
        return "stop_sequence"
    return "end_turn" if reply.tool_name is None else "tool_use"


def _empty_block(reply: Reply) -> dict[str, Any]:
    if reply.tool_name is None:
        return {"type": "text", "text": ""}
    tool_id = "toolu_" + response_suffix(reply.response_id)
    return {"type": "tool_use", "id": tool_id, "name": reply.tool_name, "input": {}}


def _json_delta(fragment: str) -> bytes:
    delta = {"type": "input_json_delta", "partial_json": fragment}
    return _event(
        "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
    )


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


def _usage_object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) and value else None


class MessageStream(TokenTemplate):
    """SSE events of one streamed message (a single text or tool-use block at index 0)."""

    __slots__ = ("_reply",)

    def __init__(self, reply: Reply, tails: WordTails) -> None:
        self._reply = reply
        # A tool call's tokens are fragments of its input JSON (``rendering.arguments_text``).
        delta = (
            {"type": "text_delta", "text": TOKEN_SLOT}
            if reply.tool_name is None
            else {"type": "input_json_delta", "partial_json": TOKEN_SLOT}
        )
        prefix, suffix = split_template({"type": "content_block_delta", "index": 0, "delta": delta})
        self._set_template(event_prefix("content_block_delta") + prefix, suffix + FRAME_END, tails)

    def opening(self) -> bytes:
        reply = self._reply
        start = {"type": "message_start", "message": _message(reply, [], None, 1)}
        block = {"type": "content_block_start", "index": 0, "content_block": _empty_block(reply)}
        events = [
            _event("message_start", start),
            _event("content_block_start", block),
            _event("ping", {"type": "ping"}),
        ]
        if reply.tool_name is not None:
            events.append(_json_delta(ARGUMENTS_OPEN))
        return b"".join(events)

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        reply = self._reply
        delta = {
            "stop_reason": _stop_reason(reply, truncated),
            "stop_sequence": reply.stop_sequence,
        }
        return b"".join(
            (
                b"" if reply.tool_name is None else _json_delta(ARGUMENTS_CLOSE),
                _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
                _event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": delta,
                        "usage": _usage(reply, completion_tokens),
                    },
                ),
                _event("message_stop", {"type": "message_stop"}),
            )
        )


class AnthropicMessages:
    """The ``POST /v1/messages`` API."""

    name: Final = ANTHROPIC_MESSAGES
    path: Final = "/messages"
    id_header: Final = "request-id"

    def __init__(self) -> None:
        self._tails = WordTails()

    def request_headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def request_body(self, request: OutgoingRequest) -> dict[str, Any]:
        return request_body(request)

    def decode_event(self, event: str, data: str) -> StreamEvent:
        if event == "ping":
            return _OTHER
        obj = orjson.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("event data is not a JSON object")
        kind = obj.get("type", event)
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            text = delta.get("text")
            if text:
                return (EventKind.TEXT, text, None, None, None, obj, None)
            fragment = delta.get("partial_json")
            if fragment:
                return (EventKind.TOOL_CALL, fragment, None, None, None, obj, None)
            if delta.get("thinking"):
                return stream_event(EventKind.TEXT, document=obj)
            return stream_event(EventKind.OTHER, document=obj)
        if kind == "message_start":
            message = obj.get("message") or {}
            usage = _usage_object(message.get("usage"))
            return stream_event(EventKind.OTHER, "", usage, message.get("model"), None, obj)
        if kind == "message_delta":
            delta = obj.get("delta")
            stop = delta.get("stop_reason") if isinstance(delta, dict) else None
            usage = _usage_object(obj.get("usage"))
            return (EventKind.OTHER, "", usage, None, None, obj, stop)
        if kind == "message_stop":
            return _END
        if kind == "error":
            return stream_event(EventKind.ERROR, error=short(obj.get("error") or obj), document=obj)
        return stream_event(EventKind.OTHER, document=obj)

    def decode_body(self, document: dict[str, Any]) -> BodyAnswer:
        if document.get("type") == "error":
            return BodyAnswer(error=short(document.get("error") or document))
        blocks = [b for b in document.get("content") or () if isinstance(b, dict)]
        text = "".join(b.get("text", "") for b in blocks)
        content = bool(text) or any(b.get("type") == "tool_use" for b in blocks)
        usage = _usage_object(document.get("usage"))
        terminated = document.get("type") == "message"
        stop = document.get("stop_reason")
        return BodyAnswer(text, content, usage, document.get("model"), None, terminated, stop)

    def read_usage(self, usage: Mapping[str, Any], into: TokenCounts) -> None:
        if "input_tokens" in usage:
            cached = usage.get("cache_read_input_tokens") or 0
            written = usage.get("cache_creation_input_tokens") or 0
            into.prompt_tokens = usage["input_tokens"] + cached + written
            into.cached_tokens, into.cache_write_tokens = cached, written
        if "output_tokens" in usage:
            into.completion_tokens = usage["output_tokens"]

    def error_message(self, document: Any) -> str | None:
        if isinstance(document, dict) and isinstance(document.get("error"), dict):
            return short(document["error"].get("message") or document["error"])
        return None

    def parse(self, raw: bytes) -> ParsedRequest:
        return parse_request(raw)

    def response_id(self, digest: int) -> str:
        return f"msg_tokenstorm{digest:016x}"

    def stream_shape(self, reply: Reply) -> MessageStream:
        return MessageStream(reply, self._tails)

    def full_body(self, reply: Reply, words: Sequence[int], truncated: bool) -> bytes:
        content: list[dict[str, Any]] = [{"type": "text", "text": text_of(words)}]
        if reply.tool_name is not None:
            content = [{**_empty_block(reply), "input": orjson.loads(arguments_text(words))}]
        return orjson.dumps(_message(reply, content, _stop_reason(reply, truncated), len(words)))

    def error_document(self, kind: ErrorKind, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": ERROR_TYPES[kind], "message": message}}

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str | None
    ) -> bytes:
        document = self.error_document(kind, message)
        document["request_id"] = request_id
        return orjson.dumps(document)

    def error_event(self, kind: ErrorKind, message: str) -> bytes:
        return _event("error", self.error_document(kind, message))

    def malformed_event(self) -> bytes:
        return b'event: content_block_delta\ndata: {"choices": [{"delta": {"content": "tru\n\n'

    def rate_limit_headers(self, reset: str) -> dict[str, str]:
        return {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": reset,
        }

    def event_frame(self, event: str, document: dict[str, Any]) -> bytes:
        return _event(event, document)

    def without_usage(self, document: dict[str, Any]) -> dict[str, Any] | None:
        document.pop("usage", None)
        if isinstance(document.get("message"), dict):
            document["message"].pop("usage", None)
        return document
