"""What every API's answer rendering shares: a ``Reply`` and word indices in; token
events from templates split once per answer, alone or pre-framed as HTTP/1.1 chunks, and the
text and tool arguments the words spell out.

Streamed tokens are rendered from templates split once per response, so one token costs a
byte concatenation, not a JSON encoding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson

from harness.contract.prompt_text import VOCABULARY

#: Each vocabulary word followed by a space, as a JSON string literal (quotes included), so
#: the streamed pieces concatenate into the full text.
WORD_JSON: Final = tuple(orjson.dumps(word + " ") for word in VOCABULARY)

#: Bytes of each ``WORD_JSON`` entry, for the size line of a token's HTTP chunk.
WORD_JSON_BYTES: Final = tuple(len(word) for word in WORD_JSON)
_LONGEST_WORD_BYTES: Final = max(WORD_JSON_BYTES)

#: The JSON placeholder a template is split at; the split removes it, quotes included.
TOKEN_SLOT: Final = "\x1ftokenstorm-token\x1f"
_SLOT_BYTES: Final = orjson.dumps(TOKEN_SLOT)

#: What a tool call's arguments start and end with around the words: a call's arguments are
#: ``{"query": "<the answer's words>"}``, each token one fragment of that JSON.
ARGUMENTS_OPEN: Final = '{"query": "'
ARGUMENTS_CLOSE: Final = '"}'


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
    stream. An API object holds one, so that all its streams share the tables.

    The suffixes of an API are a handful (a template's end carries no per-answer value);
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


def split_template(document: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """Encode ``document`` (holding ``TOKEN_SLOT`` once) and split it around the slot."""
    prefix, found, suffix = orjson.dumps(document).partition(_SLOT_BYTES)
    if not found:
        raise ValueError("template holds no token slot")
    return prefix, suffix


def text_of(words: Sequence[int]) -> str:
    """The answer text of ``words``: each word followed by a space."""
    return "".join(VOCABULARY[word] + " " for word in words)


def arguments_text(words: Sequence[int]) -> str:
    """The whole arguments JSON of a tool call whose tokens are ``words``."""
    return ARGUMENTS_OPEN + text_of(words) + ARGUMENTS_CLOSE


def response_suffix(response_id: str) -> str:
    """The digest part of a mock response id, for ids derived from it (tool calls)."""
    return response_id.rsplit("tokenstorm", 1)[-1]
