"""OpenAI chat completions (``POST /v1/chat/completions``) on the wire: planned requests
in, bodies out; bodies in, ``ParsedRequest`` out; ``Reply`` in, ``chat.completion`` objects and
chunks out; chunks and bodies in, content and usage out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from harness.api.errors import ErrorKind, RequestError, short
from harness.api.openai_common import (
    DONE,
    FINGERPRINT,
    NO_MODEL,
    OpenAIWire,
    generation_options,
    usage_object,
    usage_of,
)
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
from harness.api.requests import (
    OutgoingRequest,
    ParsedRequest,
    decode_object,
    required_model,
    text_pieces,
)
from harness.api.sse import DATA_FIELD, FRAME_END, data_frame
from harness.api.wire_api import BodyAnswer, EventKind, StreamEvent, stream_event
from harness.contract.apis import OPENAI_CHAT
from harness.contract.prompt_text import count_tokens

_END: Final = stream_event(EventKind.END)
_TEXT: Final = EventKind.TEXT
_OTHER: Final = EventKind.OTHER
_NO_DELTA: Final[dict[str, Any]] = {}


def _call_id(reply: Reply) -> str:
    return "call_" + response_suffix(reply.response_id)


def _message(reply: Reply, words: Sequence[int]) -> dict[str, Any]:
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


class ChatStream(TokenTemplate):
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
        self._set_template(DATA_FIELD + prefix, suffix + FRAME_END, tails)

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
        delta = {"role": "assistant", "content": "", "refusal": None}
        return data_frame(orjson.dumps(self._chunk(delta, None)))

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        parts = [data_frame(orjson.dumps(self._chunk({}, "length" if truncated else "stop")))]
        if self._reply.include_usage:
            usage_chunk = dict(self._base)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = usage_of(self._reply, completion_tokens)
            parts.append(data_frame(orjson.dumps(usage_chunk)))
        parts.append(DONE)
        return b"".join(parts)


class ChatToolStream(ChatStream):
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
        delta = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
        return data_frame(orjson.dumps(self._chunk(delta, None)))

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": ARGUMENTS_CLOSE}}]}
        last = data_frame(orjson.dumps(self._chunk(delta, None)))
        rest = super().closing(completion_tokens, truncated)
        return last + rest.replace(b'"finish_reason":"stop"', b'"finish_reason":"tool_calls"', 1)


class OpenAIChat(OpenAIWire):
    """The ``POST /v1/chat/completions`` API."""

    name: Final = OPENAI_CHAT
    path: Final = "/chat/completions"

    def __init__(self) -> None:
        self._tails = WordTails()

    def request_body(self, request: OutgoingRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "stream": request.stream,
        }
        if request.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def decode_event(self, event: str, data: str) -> StreamEvent:
        if data == "[DONE]":
            return _END
        if event == "error":
            return stream_event(EventKind.ERROR, error=short(data))
        obj = orjson.loads(data)
        if obj.__class__ is not dict:
            raise ValueError("chunk is not a JSON object")
        if obj.get("error"):
            return stream_event(EventKind.ERROR, error=short(obj["error"]), document=obj)
        kind, text, finish = _OTHER, "", None
        for choice in obj.get("choices") or ():
            finish = choice.get("finish_reason")
            delta = choice.get("delta") or _NO_DELTA
            content = delta.get("content")
            if content:
                kind, text = _TEXT, content
                break
            calls = delta.get("tool_calls")
            if calls:
                first = calls[0] if isinstance(calls, list) else None
                function = first.get("function") if isinstance(first, dict) else None
                fragment = function.get("arguments") if isinstance(function, dict) else None
                kind, text = EventKind.TOOL_CALL, fragment if isinstance(fragment, str) else ""
                break
            if delta.get("refusal"):
                kind = _TEXT
                break
        usage = obj.get("usage")
        usage = usage if usage.__class__ is dict and usage else None
        return (kind, text, usage, obj.get("model"), None, obj, finish)

    def decode_body(self, document: dict[str, Any]) -> BodyAnswer:
        if document.get("error"):
            return BodyAnswer(error=short(document["error"]))  # an error body after HTTP 200
        texts: list[str] = []
        content = False
        finish = None
        for choice in document.get("choices") or ():
            finish = finish or choice.get("finish_reason")
            message = choice.get("message") or {}
            text = message.get("content") or ""
            texts.append(text)
            content = content or bool(text or message.get("tool_calls"))
        model = document.get("model")
        usage = usage_object(document)
        return BodyAnswer("".join(texts), content, usage, model, None, True, finish)

    def parse(self, raw: bytes) -> ParsedRequest:
        body = decode_object(raw)
        model = required_model(body, NO_MODEL)
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

    def stream_shape(self, reply: Reply) -> ChatStream:
        kind = ChatStream if reply.tool_name is None else ChatToolStream
        return kind(reply, self._tails)

    def full_body(self, reply: Reply, words: Sequence[int], truncated: bool) -> bytes:
        finish = "length" if truncated else "stop" if reply.tool_name is None else "tool_calls"
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
                        "finish_reason": finish,
                    }
                ],
                "usage": usage_of(reply, len(words)),
            }
        )
