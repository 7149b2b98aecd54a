"""Requests on the wire, common to every API: what a client plans to send
(``OutgoingRequest``), what a server parses out of a body (``ParsedRequest``), and the checks
every API's parser shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from harness.api.errors import ErrorKind, RequestError
from harness.contract.apis import ANTHROPIC_MESSAGES

#: Lifetimes of Anthropic's prompt-cache entries (``cache_control.ttl`` "5m" and "1h").
TTL_5M_S: Final = 300.0
TTL_1H_S: Final = 3600.0

#: How a client places Anthropic prompt-cache breakpoints (``[target] cache_control``).
CACHE_CONTROL_MODES: Final = ("off", "system", "conversation")

_MAX_STOP_ENTRIES: Final = 16


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """One attempt as the client plans it, before any API's spelling; ``cache_control`` is
    one of ``CACHE_CONTROL_MODES`` (APIs without explicit caching ignore it)."""

    model: str
    messages: Sequence[Mapping[str, str]]
    max_tokens: int
    stream: bool
    cache_control: str = "off"


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A ``cache_control`` marker: on the block at ``block_index``, with its lifetime."""

    block_index: int
    ttl_s: float = TTL_5M_S


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """The parts of a request a server acts on; ``max_tokens`` None means no cap."""

    model: str
    prompt_tokens: int
    max_tokens: int | None
    stream: bool
    include_usage: bool
    #: The prompt's text, piece by piece in order (an embeddings request: one per input).
    prompt_pieces: tuple[str, ...] = ()
    #: Names of the tools offered, and the choice: "auto", "none", "required" or
    #: "tool:<name>".
    tools: tuple[str, ...] = ()
    tool_choice: str = "auto"
    #: Stop entries: the answer ends before the first word equal to one.
    stop: tuple[str, ...] = ()
    #: Generate ``max_tokens`` whatever the natural length (vLLM's ``ignore_eos``).
    ignore_eos: bool = False
    #: Anthropic's ``cache_control`` markers (explicit caching: nothing is cached without
    #: one); None for APIs whose provider caches prefixes by itself.
    cache_breakpoints: tuple[Breakpoint, ...] | None = None
    #: Embeddings: the vector length asked for (None: the model's), and base64 encoding.
    dimensions: int | None = None
    base64: bool = False


def check_cache_control(api: str, mode: str) -> None:
    """``ValueError`` unless ``mode`` is one of ``CACHE_CONTROL_MODES`` and, other than
    "off", asked of the API with explicit prompt caching (Anthropic messages)."""
    if mode not in CACHE_CONTROL_MODES:
        raise ValueError(
            f"unknown cache_control {mode!r}: use one of {', '.join(CACHE_CONTROL_MODES)}"
        )
    if mode != "off" and api != ANTHROPIC_MESSAGES:
        raise ValueError(
            f"cache_control = {mode!r} needs api = "
            f"{ANTHROPIC_MESSAGES!r} ({api} caches prefixes by itself)"
        )


def check_content_type(content_type: str) -> None:
    """A 400 ``RequestError`` unless the body is declared JSON (charset parameters aside):
    the providers refuse form posts and untyped bodies before reading them."""
    if content_type != "application/json":
        shown = content_type or "(none)"
        raise RequestError(
            400,
            ErrorKind.UNSUPPORTED_CONTENT_TYPE,
            f"Unsupported content type {shown!r}: send the body as JSON with "
            "the header 'Content-Type: application/json'.",
        )


def decode_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 ``RequestError``."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            f"We could not parse the JSON body of your request ({exc}).",
        ) from None
    if not isinstance(body, dict):
        raise RequestError(
            400, ErrorKind.INVALID_REQUEST, "The request body must be a JSON object."
        )
    return body


def required_model(body: dict[str, Any], missing_message: str) -> str:
    """The request's model name, or a 400 ``RequestError`` with the API's own wording."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, ErrorKind.INVALID_REQUEST, missing_message, "model")
    return model


def positive_int(value: Any, name: str) -> int:
    """``value`` as a positive integer, or a 400 naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            f"{name}: must be a positive integer, got {value!r}.",
            name,
        )
    return value


def text_pieces(content: Any, out: list[str]) -> None:
    """Append the text of message content to ``out``: a string, or a list of parts.

    Text parts, tool results (nested content) and tool inputs count; images and other parts
    do not. Anything unrecognised counts as nothing rather than failing the request.
    """
    if isinstance(content, str):
        out.append(content)
        return
    if not isinstance(content, list):
        return
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            out.append(part["text"])
        elif kind == "tool_result":
            text_pieces(part.get("content"), out)
        elif kind == "tool_use" and part.get("input") is not None:
            out.append(orjson.dumps(part["input"]).decode())


def parse_stop(value: Any, name: str) -> tuple[str, ...]:
    """``value`` (null, a string or a list of strings) as stop entries, blank ones left out,
    or a 400 naming ``name``."""
    if value is None:
        return ()
    entries = [value] if isinstance(value, str) else value
    if (
        not isinstance(entries, list)
        or len(entries) > _MAX_STOP_ENTRIES
        or not all(isinstance(entry, str) for entry in entries)
    ):
        raise RequestError(
            400,
            ErrorKind.INVALID_REQUEST,
            f"{name}: must be a string or a list of at most {_MAX_STOP_ENTRIES} strings, "
            f"got {value!r}.",
            name,
        )
    return tuple(entry for entry in entries if entry.strip())
