"""The one interface every wire API implements (``WireApi``), with what its decoders give back:
a stream event or a whole body in; content, tool-call, usage, error and end out.

The client builds requests and decodes answers through it, the mock parses requests and
renders answers, errors and faults through it, and the fault proxy reads what passes. An API
whose answers never stream (embeddings) refuses the streaming methods with ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple, Protocol

from harness.api.errors import ErrorKind
from harness.api.rendering import Reply, StreamShape
from harness.api.requests import OutgoingRequest, ParsedRequest


class EventKind(Enum):
    """What one stream event is to a reader timing tokens."""

    #: A content delta (its ``text`` may be empty: a refusal or thinking delta still counts).
    TEXT = "text"
    #: A fragment of a tool call's arguments (content too, but no answer text).
    TOOL_CALL = "tool_call"
    #: Anything else: a role-only, usage-only or start event, a ping.
    OTHER = "other"
    #: An in-band error after HTTP 200.
    ERROR = "error"
    #: The stream's terminator.
    END = "end"


#: One decoded stream event: ``(kind, text, usage, model, error, document, finish)``, unpacked
#: by name. ``text`` is a content delta's text or a tool call's fragment; ``usage`` the raw usage
#: object the event carries (read it with ``WireApi.read_usage``; a relay may rewrite it in
#: ``document``, the event's JSON data, None for terminators and non-JSON events); ``finish``
#: the finish or stop reason the event carries, as the API spells it (``stop``,
#: ``content_filter``, ``end_turn``, ``refusal``...), else None. A plain tuple: one is built per
#: streamed token, and a NamedTuple's constructor costs several times what the literal does.
StreamEvent = tuple[
    EventKind,
    str,
    dict[str, Any] | None,
    str | None,
    str | None,
    dict[str, Any] | None,
    str | None,
]


def stream_event(
    kind: EventKind,
    text: str = "",
    usage: dict[str, Any] | None = None,
    model: str | None = None,
    error: str | None = None,
    document: dict[str, Any] | None = None,
    finish: str | None = None,
) -> StreamEvent:
    """A ``StreamEvent`` by field name (per-token paths write the tuple out)."""
    return (kind, text, usage, model, error, document, finish)


class BodyAnswer(NamedTuple):
    """One decoded whole (non-streamed) answer."""

    #: The answer's text, and whether it carries content at all (text or a tool call).
    text: str = ""
    content: bool = False
    usage: dict[str, Any] | None = None
    model: str | None = None
    error: str | None = None
    #: The body is a complete answer object.
    terminated: bool = False
    #: The finish or stop reason, as the API spells it (None when the body names none).
    finish: str | None = None


class TokenCounts(Protocol):
    """Where ``WireApi.read_usage`` writes: a usage object's counts (None: not seen)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    cache_write_tokens: int | None


class WireApi(Protocol):
    """One provider API on the wire (``name`` as plans, records and ledgers spell it)."""

    @property
    def name(self) -> str:
        """The API's name (``harness.contract.apis``)."""
        ...

    @property
    def path(self) -> str:
        """The endpoint, after the ``/v1`` base: ``/chat/completions``, ``/messages``..."""
        ...

    @property
    def id_header(self) -> str:
        """Header naming the request id in answers (``x-request-id`` or ``request-id``)."""
        ...

    # Client side: requests out, answers in.

    def request_headers(self, api_key: str | None) -> dict[str, str]:
        """The API's own headers: credentials and version."""
        ...

    def request_body(self, request: OutgoingRequest) -> dict[str, Any]:
        """The JSON body of ``request``."""
        ...

    def decode_event(self, event: str, data: str) -> StreamEvent:
        """One SSE event of a streamed answer; ``ValueError`` when its data is malformed."""
        ...

    def decode_body(self, document: dict[str, Any]) -> BodyAnswer:
        """A whole answer's JSON object."""
        ...

    def read_usage(self, usage: Mapping[str, Any], into: TokenCounts) -> None:
        """Set ``into``'s counts from one usage object; a count it does not carry is left."""
        ...

    def error_message(self, document: Any) -> str | None:
        """The message of an error body (None when ``document`` is not one)."""
        ...

    # Server side: requests in, answers and errors out.

    def parse(self, raw: bytes) -> ParsedRequest:
        """Decode and check a request body; raises ``RequestError``."""
        ...

    def response_id(self, digest: int) -> str:
        """The id of the answer object, from the attempt's 64-bit digest."""
        ...

    def stream_shape(self, reply: Reply) -> StreamShape:
        """The event templates of one streamed answer."""
        ...

    def full_body(self, reply: Reply, words: Sequence[int], truncated: bool) -> bytes:
        """The JSON body of a non-streamed answer carrying ``words``."""
        ...

    def error_document(self, kind: ErrorKind, message: str) -> dict[str, Any]:
        """The error object of an error after HTTP 200 (a whole body, or an event's data)."""
        ...

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str | None
    ) -> bytes:
        """The JSON body of an error status."""
        ...

    def error_event(self, kind: ErrorKind, message: str) -> bytes:
        """An in-band error frame, after HTTP 200 (an SDK raises it mid-iteration)."""
        ...

    def malformed_event(self) -> bytes:
        """A frame whose data is not valid JSON."""
        ...

    def rate_limit_headers(self, reset: str) -> dict[str, str]:
        """The rate-limit state headers of an exhausted request budget resetting in ``reset``."""
        ...

    # Relays: rewriting what passes.

    def event_frame(self, event: str, document: dict[str, Any]) -> bytes:
        """``document`` framed as the API frames an event named ``event``."""
        ...

    def without_usage(self, document: dict[str, Any]) -> dict[str, Any] | None:
        """A stream event's ``document`` with its usage taken out (changed in place), or None
        when the event carried nothing else."""
        ...
