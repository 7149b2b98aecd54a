"""OpenAI chat-completions flavour of the mock: request bodies in, ``chat.completion`` objects,
``chat.completion.chunk`` SSE events and OpenAI error bodies out."""

from __future__ import annotations

from typing import Any, Final

import orjson

from harness.prompt_text import count_tokens
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

API: Final = "openai-chat"
_FINGERPRINT: Final = "fp_tokenstorm"
_DONE: Final = b"data: [DONE]\n\n"

# (type, code) of each error kind, as OpenAI spells them.
_ERRORS: Final[dict[ErrorKind, tuple[str, str | None]]] = {
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.NOT_FOUND: ("invalid_request_error", "model_not_found"),
    ErrorKind.RATE_LIMIT: ("requests", "rate_limit_exceeded"),
    ErrorKind.SERVER_ERROR: ("server_error", None),
    ErrorKind.OVERLOADED: ("server_error", None),
}


def _event(document: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(document) + b"\n\n"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _message_tokens(message: Any) -> int:
    if not isinstance(message, dict):
        raise RequestError(400, ErrorKind.INVALID_REQUEST,
                           "Each entry of 'messages' must be an object.", "messages")
    total = text_tokens(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            total += count_tokens(function["arguments"])
    return total


class OpenAIStream:
    """SSE events of one streamed chat completion."""

    __slots__ = ("_base", "_prefix", "_reply", "_suffix")

    def __init__(self, reply: Reply) -> None:
        self._reply = reply
        self._base: dict[str, Any] = {
            "id": reply.response_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "system_fingerprint": _FINGERPRINT,
        }
        prefix, suffix = split_template(self._chunk({"content": TOKEN_SLOT}, None))
        self._prefix = b"data: " + prefix
        self._suffix = suffix + b"\n\n"

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        chunk = dict(self._base)
        chunk["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ]
        if self._reply.include_usage:
            chunk["usage"] = None
        return chunk

    def opening(self) -> bytes:
        return _event(self._chunk({"role": "assistant", "content": "", "refusal": None}, None))

    def token(self, word: int) -> bytes:
        return self._prefix + WORD_JSON[word] + self._suffix

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        parts = [_event(self._chunk({}, "length" if truncated else "stop"))]
        if self._reply.include_usage:
            usage_chunk = dict(self._base)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = _usage(self._reply.prompt_tokens, completion_tokens)
            parts.append(_event(usage_chunk))
        parts.append(_DONE)
        return b"".join(parts)


class OpenAIChat:
    """The ``POST /v1/chat/completions`` flavour."""

    api: Final = API
    id_header: Final = "x-request-id"

    def parse(self, raw: bytes) -> ParsedRequest:
        body = decode_object(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError(400, ErrorKind.INVALID_REQUEST,
                               "You must provide a model parameter.", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(400, ErrorKind.INVALID_REQUEST,
                               "'messages' must be a non-empty array.", "messages")
        prompt_tokens = sum(_message_tokens(message) for message in messages)
        max_tokens: int | None = None
        for name in ("max_completion_tokens", "max_tokens"):
            if body.get(name) is not None:
                max_tokens = positive_int(body[name], name)
                break
        stream = body.get("stream", False)
        if stream is None:
            stream = False
        if not isinstance(stream, bool):
            raise RequestError(400, ErrorKind.INVALID_REQUEST, "'stream' must be a boolean.",
                               "stream")
        options = body.get("stream_options")
        include_usage = (stream and isinstance(options, dict)
                         and options.get("include_usage") is True)
        return ParsedRequest(model=model, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                             stream=stream, include_usage=include_usage)

    def response_id(self, digest: int) -> str:
        return f"chatcmpl-tokenstorm{digest:016x}"

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str
    ) -> bytes:
        error_type, code = _ERRORS[kind]
        return orjson.dumps(
            {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        )

    def stream_shape(self, reply: Reply) -> OpenAIStream:
        return OpenAIStream(reply)

    def full_body(self, reply: Reply, words: list[int], truncated: bool) -> bytes:
        return orjson.dumps({
            "id": reply.response_id,
            "object": "chat.completion",
            "created": reply.created,
            "model": reply.model,
            "system_fingerprint": _FINGERPRINT,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text_of(words), "refusal": None},
                "logprobs": None,
                "finish_reason": "length" if truncated else "stop",
            }],
            "usage": _usage(reply.prompt_tokens, len(words)),
        })
