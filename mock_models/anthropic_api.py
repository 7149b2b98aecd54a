"""Anthropic messages flavour of the mock: request bodies in, ``message`` objects, the
message_start … message_stop SSE sequence and Anthropic error bodies out."""

from __future__ import annotations

from typing import Any, Final

import orjson

from mock_models.flavour import (
    TOKEN_SLOT,
    WORD_JSON,
    ErrorKind,
    ParsedRequest,
    Reply,
    RequestError,
    decode_object,
    positive_int,
    split_template,
    text_of,
    text_tokens,
)

API: Final = "anthropic-messages"

_ERROR_TYPES: Final[dict[ErrorKind, str]] = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.SERVER_ERROR: "api_error",
    ErrorKind.OVERLOADED: "overloaded_error",
}


def _event(name: str, document: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(document) + b"\n\n"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _stop_reason(truncated: bool) -> str:
    return "max_tokens" if truncated else "end_turn"


def _message(reply: Reply, content: list[dict[str, Any]], stop_reason: str | None,
             output_tokens: int) -> dict[str, Any]:
    return {
        "id": reply.response_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(reply.prompt_tokens, output_tokens),
    }


class AnthropicStream:
    """SSE events of one streamed message (a single text block at index 0)."""

    __slots__ = ("_prefix", "_reply", "_suffix")

    def __init__(self, reply: Reply) -> None:
        self._reply = reply
        prefix, suffix = split_template({
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": TOKEN_SLOT},
        })
        self._prefix = b"event: content_block_delta\ndata: " + prefix
        self._suffix = suffix + b"\n\n"

    def opening(self) -> bytes:
        return b"".join((
            _event("message_start",
                   {"type": "message_start", "message": _message(self._reply, [], None, 1)}),
            _event("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
            _event("ping", {"type": "ping"}),
        ))

    def token(self, word: int) -> bytes:
        return self._prefix + WORD_JSON[word] + self._suffix

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        return b"".join((
            _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _event("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(truncated), "stop_sequence": None},
                "usage": _usage(self._reply.prompt_tokens, completion_tokens),
            }),
            _event("message_stop", {"type": "message_stop"}),
        ))


class AnthropicMessages:
    """The ``POST /v1/messages`` flavour."""

    api: Final = API
    id_header: Final = "request-id"

    def parse(self, raw: bytes) -> ParsedRequest:
        body = decode_object(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError(400, ErrorKind.INVALID_REQUEST, "model: Field required", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(400, ErrorKind.INVALID_REQUEST,
                               "messages: at least one message is required", "messages")
        if "max_tokens" not in body:
            raise RequestError(400, ErrorKind.INVALID_REQUEST, "max_tokens: Field required",
                               "max_tokens")
        max_tokens = positive_int(body["max_tokens"], "max_tokens")
        prompt_tokens = text_tokens(body.get("system"))
        for message in messages:
            if not isinstance(message, dict):
                raise RequestError(400, ErrorKind.INVALID_REQUEST,
                                   "messages: each message must be an object", "messages")
            prompt_tokens += text_tokens(message.get("content"))
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise RequestError(400, ErrorKind.INVALID_REQUEST, "stream: Input should be a boolean",
                               "stream")
        return ParsedRequest(model=model, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                             stream=stream, include_usage=True)

    def response_id(self, digest: int) -> str:
        return f"msg_tokenstorm{digest:016x}"

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str
    ) -> bytes:
        return orjson.dumps({
            "type": "error",
            "error": {"type": _ERROR_TYPES[kind], "message": message},
            "request_id": request_id,
        })

    def stream_shape(self, reply: Reply) -> AnthropicStream:
        return AnthropicStream(reply)

    def full_body(self, reply: Reply, words: list[int], truncated: bool) -> bytes:
        content = [{"type": "text", "text": text_of(words)}]
        return orjson.dumps(_message(reply, content, _stop_reason(truncated), len(words)))
