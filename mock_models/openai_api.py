"""OpenAI chat-completions flavour of the mock: request bodies in, ``chat.completion`` objects,
``chat.completion.chunk`` SSE events and OpenAI error bodies out."""

from __future__ import annotations

from typing import Any, Final

import orjson

from harness.contract.prompt_text import count_tokens
from mock_models.flavour import (
    OPENAI_NO_MODEL,
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

API: Final = "openai-chat"
FINGERPRINT: Final = "fp_tokenstorm"
DONE: Final = b"data: [DONE]\n\n"

# (type, code) of each error kind, as OpenAI spells them.
OPENAI_ERRORS: Final[dict[ErrorKind, tuple[str, str | None]]] = {
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.NOT_FOUND: ("invalid_request_error", "model_not_found"),
    ErrorKind.RATE_LIMIT: ("requests", "rate_limit_exceeded"),
    ErrorKind.SERVER_ERROR: ("server_error", None),
    ErrorKind.OVERLOADED: ("server_error", None),
    ErrorKind.AUTHENTICATION: ("invalid_request_error", "invalid_api_key"),
    ErrorKind.UNSUPPORTED_CONTENT_TYPE: ("invalid_request_error", "unsupported_content_type"),
}


def event_bytes(document: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(document) + b"\n\n"


def usage_of(reply: Reply, completion_tokens: int) -> dict[str, Any]:
    prompt_tokens = reply.prompt_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _message(reply: Reply, words: list[int]) -> dict[str, Any]:
    if reply.tool_name is None:
        return {"role": "assistant", "content": text_of(words), "refusal": None}
    call = {
        "id": _call_id(reply),
        "type": "function",
        "function": {"name": reply.tool_name, "arguments": arguments_text(words)},
    }
    return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}


def _message_pieces(message: Any, out: list[str]) -> None:
    if not isinstance(message, dict):
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            "Each entry of 'messages' must be an object.",
            "messages",
        )
    text_pieces(message.get("content"), out)
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            out.append(function["arguments"])


class OpenAIStream(TokenTemplate):
    """SSE events of one streamed chat completion."""

    __slots__ = ("_base", "_reply")

    def __init__(self, reply: Reply, tails: WordTails) -> None:
        self._reply = reply
        self._base: dict[str, Any] = {
            "id": reply.response_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "system_fingerprint": FINGERPRINT,
        }
        prefix, suffix = split_template(self._chunk(self._token_delta(), None))
        self._set_template(b"data: " + prefix, suffix + b"\n\n", tails)

    def _token_delta(self) -> dict[str, Any]:
        return {"content": TOKEN_SLOT}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        chunk = dict(self._base)
        chunk["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ]
        if self._reply.include_usage:
            chunk["usage"] = None
        return chunk

    def opening(self) -> bytes:
        return event_bytes(self._chunk({"role": "assistant", "content": "", "refusal": None}, None))

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        parts = [event_bytes(self._chunk({}, "length" if truncated else "stop"))]
        if self._reply.include_usage:
            usage_chunk = dict(self._base)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = usage_of(self._reply, completion_tokens)
            parts.append(event_bytes(usage_chunk))
        parts.append(DONE)
        return b"".join(parts)


class OpenAIToolStream(OpenAIStream):
    """SSE events of one streamed chat completion calling ``reply.tool_name``."""

    __slots__ = ()

    def _token_delta(self) -> dict[str, Any]:
        # A token's word is its fragment of the arguments, so the inherited token() fits.
        return {"tool_calls": [{"index": 0, "function": {"arguments": TOKEN_SLOT}}]}

    def opening(self) -> bytes:
        reply = self._reply
        call = {
            "index": 0,
            "id": _call_id(reply),
            "type": "function",
            "function": {"name": reply.tool_name, "arguments": ARGUMENTS_OPEN},
        }
        return event_bytes(
            self._chunk(
                {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}, None
            )
        )

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        last = event_bytes(
            self._chunk(
                {"tool_calls": [{"index": 0, "function": {"arguments": ARGUMENTS_CLOSE}}]}, None
            )
        )
        rest = super().closing(completion_tokens, truncated)
        return last + rest.replace(b'"finish_reason":"stop"', b'"finish_reason":"tool_calls"', 1)


def generation_options(body: dict[str, Any], cap_names: tuple[str, ...]) -> dict[str, Any]:
    """The ``ParsedRequest`` fields OpenAI's endpoints share: the first of ``cap_names`` set
    as ``max_tokens``, ``stream``, ``include_usage``, ``stop`` and ``ignore_eos``."""
    max_tokens: int | None = None
    for name in cap_names:
        if body.get(name) is not None:
            max_tokens = positive_int(body[name], name)
            break
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise RequestError(400, ErrorKind.INVALID_REQUEST, "'stream' must be a boolean.", "stream")
    ignore_eos = body.get("ignore_eos", False)
    if not isinstance(ignore_eos, bool):
        raise RequestError(
            400, ErrorKind.INVALID_REQUEST, "'ignore_eos' must be a boolean.", "ignore_eos"
        )
    options = body.get("stream_options")
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    return {
        "max_tokens": max_tokens,
        "stream": stream,
        "include_usage": include_usage,
        "stop": parse_stop(body.get("stop"), "stop"),
        "ignore_eos": ignore_eos,
    }


def _call_id(reply: Reply) -> str:
    return "call_" + reply.response_id.rsplit("tokenstorm", 1)[-1]


def _tools(body: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise RequestError(400, ErrorKind.INVALID_REQUEST, "'tools' must be an array.", "tools")
    names = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RequestError(
                400, ErrorKind.INVALID_REQUEST, "Each tool needs a function with a name.", "tools"
            )
        names.append(function["name"])
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name not in names:
            raise RequestError(
                400,
                ErrorKind.INVALID_REQUEST,
                "'tool_choice' names a function not in 'tools'.",
                "tool_choice",
            )
        return tuple(names), f"tool:{name}"
    if choice not in ("auto", "none", "required"):
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            "'tool_choice' must be auto, none, required or a function.",
            "tool_choice",
        )
    return tuple(names), str(choice)


class OpenAIChat:
    """The ``POST /v1/chat/completions`` flavour."""

    api: Final = API
    id_header: Final = "x-request-id"

    def __init__(self) -> None:
        self._tails = WordTails()

    def parse(self, raw: bytes) -> ParsedRequest:
        body = decode_object(raw)
        model = required_model(body, OPENAI_NO_MODEL)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(
                400, ErrorKind.INVALID_REQUEST, "'messages' must be a non-empty array.", "messages"
            )
        pieces: list[str] = []
        for message in messages:
            _message_pieces(message, pieces)
        prompt_tokens = sum(count_tokens(piece) for piece in pieces)
        options = generation_options(body, ("max_completion_tokens", "max_tokens"))
        tools, tool_choice = _tools(body)
        return ParsedRequest(
            model=model,
            prompt_tokens=prompt_tokens,
            prompt_pieces=tuple(pieces),
            tools=tools,
            tool_choice=tool_choice,
            **options,
        )

    def response_id(self, digest: int) -> str:
        return f"chatcmpl-tokenstorm{digest:016x}"

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str
    ) -> bytes:
        error_type, code = OPENAI_ERRORS[kind]
        return orjson.dumps(
            {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        )

    def stream_shape(self, reply: Reply) -> OpenAIStream:
        kind = OpenAIStream if reply.tool_name is None else OpenAIToolStream
        return kind(reply, self._tails)

    def full_body(self, reply: Reply, words: list[int], truncated: bool) -> bytes:
        return orjson.dumps(
            {
                "id": reply.response_id,
                "object": "chat.completion",
                "created": reply.created,
                "model": reply.model,
                "system_fingerprint": FINGERPRINT,
                "choices": [
                    {
                        "index": 0,
                        "message": _message(reply, words),
                        "logprobs": None,
                        "finish_reason": (
                            "length"
                            if truncated
                            else "stop"
                            if reply.tool_name is None
                            else "tool_calls"
                        ),
                    }
                ],
                "usage": usage_of(reply, len(words)),
            }
        )
