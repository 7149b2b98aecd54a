"""What each API flavour of the mock provides: request parsing in, wire bytes out.

``openai_api`` and ``anthropic_api`` implement ``Flavour``; the server only talks to this
interface, so it renders errors, streams and whole bodies without knowing either format.
Streamed tokens are rendered from templates split once per response, so one token costs a
byte concatenation, not a JSON encoding; ``TokenTemplate`` also frames them as HTTP chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol

import orjson

from harness.contract.prompt_text import VOCABULARY, count_tokens
from mock_models.explicit_cache import Breakpoint

#: Each vocabulary word followed by a space, as a JSON string literal (quotes included), so
#: the streamed pieces concatenate into the full text.
WORD_JSON: Final = tuple(orjson.dumps(word + " ") for word in VOCABULARY)

#: Bytes of each ``WORD_JSON`` entry, for the size line of a token's HTTP chunk.
WORD_JSON_BYTES: Final = tuple(len(word) for word in WORD_JSON)
_LONGEST_WORD_BYTES: Final = max(WORD_JSON_BYTES)

#: The JSON placeholder a template is split at; the split removes it, quotes included.
TOKEN_SLOT: Final = "\x1ftokenstorm-token\x1f"
_SLOT_BYTES: Final = orjson.dumps(TOKEN_SLOT)


class ErrorKind(StrEnum):
    """The errors the mock can answer, each flavour mapping them to its own body."""

    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    OVERLOADED = "overloaded"
    AUTHENTICATION = "authentication"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"


class RequestError(Exception):
    """A request the mock refuses (400/404), with the provider-style message."""

    def __init__(self, status: int, kind: ErrorKind, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """The parts of a request the mock acts on; ``max_tokens`` None means no cap."""

    model: str
    prompt_tokens: int
    max_tokens: int | None
    stream: bool
    include_usage: bool
    #: The prompt's text, piece by piece in order (for the prefix cache).
    prompt_pieces: tuple[str, ...] = ()
    #: Names of the tools offered, and the choice: "auto", "none", "required" or
    #: "tool:<name>".
    tools: tuple[str, ...] = ()
    tool_choice: str = "auto"
    #: Stop entries (``stop_words``): the answer ends before the first word equal to one.
    stop: tuple[str, ...] = ()
    #: Generate ``max_tokens`` whatever the natural length (vLLM's ``ignore_eos``).
    ignore_eos: bool = False
    #: Anthropic's ``cache_control`` markers (explicit caching: nothing is cached without
    #: one); None for APIs whose provider caches prefixes by itself.
    cache_breakpoints: tuple[Breakpoint, ...] | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """What every rendering of one answer needs besides its tokens."""

    response_id: str
    model: str
    prompt_tokens: int
    created: int
    include_usage: bool
    #: Of ``prompt_tokens``, those read from the prefix cache, and those written to it
    #: (explicit caching only), of which to one-hour entries.
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    #: The tool this answer calls (its tokens are then the call's arguments), or None.
    tool_name: str | None = None
    #: The stop entry that ended the answer (as the request spelled it), or None.
    stop_sequence: str | None = None


class StreamShape(Protocol):
    """The SSE bytes of one streamed answer."""

    def opening(self) -> bytes:
        """Sent with the headers, before the first token (role chunk / message_start)."""
        ...

    def token(self, word: int) -> bytes:
        """One event carrying one token: vocabulary word ``word`` and a space."""
        ...

    def chunk(self, word: int) -> bytes:
        """``token(word)`` framed as one chunk of a chunked HTTP/1.1 body (size line, event,
        CRLF): what goes on the wire for a token written alone."""
        ...

    def closing(self, completion_tokens: int, truncated: bool) -> bytes:
        """The finish events and terminator of a complete stream."""
        ...


class WordTails:
    """Each vocabulary word's JSON followed by an event's suffix and the CRLF closing its HTTP
    chunk, one table per suffix: the part of a token's chunk that does not depend on the
    stream. A flavour holds one, so that all its streams share the tables.

    The suffixes of a flavour are a handful (a template's end carries no per-answer value);
    past ``max_tables`` new ones are rendered without being kept.
    """

    __slots__ = ("_max_tables", "_tables")

    def __init__(self, max_tables: int = 16) -> None:
        self._tables: dict[bytes, tuple[bytes, ...]] = {}
        self._max_tables = max_tables

    def of(self, suffix: bytes) -> tuple[bytes, ...]:
        table = self._tables.get(suffix)
        if table is None:
            table = tuple(word + suffix + b"\r\n" for word in WORD_JSON)
            if len(self._tables) < self._max_tables:
                self._tables[suffix] = table
        return table


class TokenTemplate:
    """A streamed answer's token events, ``prefix + WORD_JSON[word] + suffix``, alone or
    framed as an HTTP chunk in one concatenation: a chunk is the head for the word's length
    (size line and prefix, made once per length per stream) and the word's shared tail."""

    __slots__ = ("_fixed_bytes", "_heads", "_prefix", "_suffix", "_tails")

    def __init__(self, prefix: bytes, suffix: bytes, tails: WordTails) -> None:
        self._set_template(prefix, suffix, tails)

    def _set_template(self, prefix: bytes, suffix: bytes, tails: WordTails) -> None:
        self._prefix = prefix
        self._suffix = suffix
        self._tails = tails.of(suffix)
        self._fixed_bytes = len(prefix) + len(suffix)
        # Made on first use: a stream meets a few of the word lengths.
        self._heads: list[bytes | None] = [None] * (_LONGEST_WORD_BYTES + 1)

    def token(self, word: int) -> bytes:
        return self._prefix + WORD_JSON[word] + self._suffix

    def chunk(self, word: int) -> bytes:
        size = WORD_JSON_BYTES[word]
        head = self._heads[size]
        if head is None:
            head = b"%x\r\n%b" % (self._fixed_bytes + size, self._prefix)
            self._heads[size] = head
        return head + self._tails[word]


class Flavour(Protocol):
    """One provider API (``api`` is its name in plans, records and the ledger)."""

    @property
    def api(self) -> str:
        """``openai-chat``, ``openai-completions`` or ``anthropic-messages``."""
        ...

    @property
    def id_header(self) -> str:
        """Header naming the request id in answers (``x-request-id`` or ``request-id``)."""
        ...

    def parse(self, raw: bytes) -> ParsedRequest:
        """Decode and check a request body; raises ``RequestError``."""
        ...

    def response_id(self, digest: int) -> str:
        """The id of the answer object, from the attempt's 64-bit digest."""
        ...

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str
    ) -> bytes:
        """The provider's JSON error body."""
        ...

    def stream_shape(self, reply: Reply) -> StreamShape:
        """The event templates of one streamed answer."""
        ...

    def full_body(self, reply: Reply, words: list[int], truncated: bool) -> bytes:
        """The JSON body of a non-streamed answer carrying ``words``."""
        ...


def split_template(document: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """Encode ``document`` (holding ``TOKEN_SLOT`` once) and split it around the slot."""
    prefix, found, suffix = orjson.dumps(document).partition(_SLOT_BYTES)
    if not found:
        raise ValueError("template holds no token slot")
    return prefix, suffix


def text_of(words: list[int]) -> str:
    """The answer text of ``words``: each word followed by a space."""
    return "".join(VOCABULARY[word] + " " for word in words)


#: What each API says when the model is missing.
OPENAI_NO_MODEL = "You must provide a model parameter."
ANTHROPIC_NO_MODEL = "model: Field required"


def required_model(body: dict[str, Any], missing_message: str) -> str:
    """The request's model name, or a 400 ``RequestError`` with the API's own wording."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, ErrorKind.INVALID_REQUEST, missing_message, "model")
    return model


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


def text_tokens(content: Any) -> int:
    """Tokens of message content (see ``text_pieces`` for what counts)."""
    pieces: list[str] = []
    text_pieces(content, pieces)
    return sum(count_tokens(piece) for piece in pieces)


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
