"""What a fault puts on the wire, for any API: a fault kind and a ``WireApi`` in; error
bodies and headers, in-band error and malformed frames, rewritten bodies and a fragmenting
writer's pieces out. The fault chooses the error; the API spells it. Pure: bytes out, no
sockets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from faults.catalogue import FaultKind
from harness.api.errors import SHOULD_RETRY_HEADER, ErrorKind, retry_headers
from harness.api.wire_api import WireApi
from harness.contract.apis import ANTHROPIC_MESSAGES

_ERRORS: Final[Mapping[FaultKind, tuple[ErrorKind, str]]] = {
    FaultKind.HTTP_429: (
        ErrorKind.RATE_LIMIT,
        "Rate limit reached for requests. Please try again later.",
    ),
    FaultKind.QUOTA_429: (
        ErrorKind.QUOTA,
        "You exceeded your current quota (spend limit reached).",
    ),
    FaultKind.HTTP_500: (
        ErrorKind.SERVER_ERROR,
        "The server had an error while processing your request.",
    ),
    FaultKind.HTTP_502: (ErrorKind.BAD_GATEWAY, "Bad gateway."),
    FaultKind.HTTP_503: (ErrorKind.UNAVAILABLE, "The server is overloaded or not ready yet."),
    FaultKind.HTTP_504: (ErrorKind.GATEWAY_TIMEOUT, "Gateway timeout."),
    FaultKind.OVERLOADED_529: (ErrorKind.OVERLOADED_529, "Overloaded"),
    FaultKind.HTTP_400: (
        ErrorKind.CONTEXT_LENGTH,
        "This model's maximum context length was exceeded.",
    ),
    FaultKind.HTTP_401: (ErrorKind.AUTHENTICATION, "Incorrect API key provided."),
    FaultKind.HTTP_404: (
        ErrorKind.NOT_FOUND,
        "The model does not exist or you do not have access to it.",
    ),
    FaultKind.HTTP_413: (
        ErrorKind.TOO_LARGE,
        "Request exceeds the maximum allowed number of bytes.",
    ),
}

#: The error injected after HTTP 200 as each provider sends one: (kind, message of a whole
#: body, message of a stream event); an API not listed gets the last entry's.
_AFTER_OK: Final[Mapping[str, tuple[ErrorKind, str, str]]] = {
    ANTHROPIC_MESSAGES: (ErrorKind.OVERLOADED, "Overloaded", "Overloaded"),
}
_AFTER_OK_DEFAULT: Final = (
    ErrorKind.SERVER_ERROR,
    "The server had an error",
    "The server had an error while streaming",
)

_NOTE: Final = " (injected by tokenstorm)"
_RETRY_HINTED: Final = frozenset({FaultKind.HTTP_429, FaultKind.HTTP_503, FaultKind.OVERLOADED_529})


def error_body(kind: FaultKind, api: WireApi, request_id: str = "") -> bytes:
    """The provider's JSON error body for a fault that answers with an error status."""
    error, message = _ERRORS[kind]
    return api.error_body(error, message + _NOTE, None, request_id or None)


def error_headers(kind: FaultKind, api: WireApi, params: Mapping[str, float]) -> dict[str, str]:
    """Headers a real provider sends with that error (retry hints, rate-limit state)."""
    headers = {"content-type": "application/json", "x-tokenstorm-fault": kind.value}
    wait_s = params.get("retry_after_s", 0.0)
    if kind in _RETRY_HINTED and wait_s > 0:
        headers.update(retry_headers(wait_s))
    if kind is FaultKind.HTTP_429:
        headers.update(api.rate_limit_headers(f"{max(wait_s, 1.0):g}s"))
    if kind is FaultKind.QUOTA_429:
        headers[SHOULD_RETRY_HEADER] = "false"  # the SDKs would retry a plain 429
    return headers


def in_band_error(api: WireApi) -> bytes:
    """An error event after HTTP 200 (an SDK raises it mid-iteration, never retried)."""
    error, _, message = _AFTER_OK.get(api.name, _AFTER_OK_DEFAULT)
    return api.error_event(error, message + _NOTE)


def rewrite_body(
    kind: FaultKind | None, api: WireApi, document: dict[str, Any], params: Mapping[str, float]
) -> dict[str, Any]:
    """A whole answer's JSON with a body fault applied: an error in its place, its usage
    dropped or scaled by ``usage_factor``; unchanged for any other kind."""
    if kind is FaultKind.ERROR_EVENT:
        error, message, _ = _AFTER_OK.get(api.name, _AFTER_OK_DEFAULT)
        return api.error_document(error, message + _NOTE)
    if kind is FaultKind.DROP_USAGE:
        document.pop("usage", None)
    elif kind is FaultKind.WRONG_USAGE and isinstance(document.get("usage"), dict):
        factor = params.get("usage_factor", 2.0)
        document["usage"] = {
            k: round(v * factor) if isinstance(v, int) else v for k, v in document["usage"].items()
        }
    return document


def split_frames(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes (a fragmenting proxy's writes)."""
    size = max(1, size)
    return [data[i : i + size] for i in range(0, len(data), size)]
