"""Anthropic messages requests, both ways: a planned request in, its body (prompt-cache
breakpoints placed per ``cache_control``) out; a body in, the ``ParsedRequest`` (pieces,
breakpoints, tools, stop sequences) out."""

from __future__ import annotations

from typing import Any, Final

from harness.api.errors import ErrorKind, RequestError
from harness.api.requests import (
    TTL_1H_S,
    TTL_5M_S,
    Breakpoint,
    OutgoingRequest,
    ParsedRequest,
    decode_object,
    parse_stop,
    positive_int,
    required_model,
    text_pieces,
)
from harness.contract.prompt_text import count_tokens

#: What Anthropic says when the model is missing.
NO_MODEL: Final = "model: Field required"
MAX_BREAKPOINTS: Final = 4
_TTLS_S: Final = {"5m": TTL_5M_S, "1h": TTL_1H_S}
_EPHEMERAL: Final[dict[str, Any]] = {"type": "ephemeral"}


def _marked(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": _EPHEMERAL}]


def request_body(request: OutgoingRequest) -> dict[str, Any]:
    """The body of ``request``: system messages joined into ``system``; ``cache_control``
    places breakpoints as applications do: ``off`` none, ``system`` on the system prompt,
    ``conversation`` on the system prompt and the last message (Anthropic's recipe for
    multi-turn caching: each turn reads what the previous one wrote and writes its own tail)."""
    messages, mode = request.messages, request.cache_control
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns: list[dict[str, Any]] = [dict(m) for m in messages if m["role"] != "system"]
    if mode == "conversation" and turns:
        turns[-1] = {**turns[-1], "content": _marked(str(turns[-1]["content"]))}
    body: dict[str, Any] = {
        "model": request.model,
        "messages": turns,
        "max_tokens": request.max_tokens,
        "stream": request.stream,
    }
    if system:
        body["system"] = system if mode == "off" else _marked(system)
    return body


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
    """Breakpoints on tool definitions (they count towards the limit; tool definitions are
    not counted as prompt tokens, so they cache nothing)."""
    if not isinstance(tools, list):
        return 0
    return sum(1 for tool in tools if isinstance(tool, dict) and tool.get("cache_control"))


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


def parse_request(raw: bytes) -> ParsedRequest:
    """Decode and check a request body; raises ``RequestError``."""
    body = decode_object(raw)
    model = required_model(body, NO_MODEL)
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
