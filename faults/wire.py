"""What a fault puts on the wire, per API flavour: status, headers and provider-shaped bodies
for the faults that answer instead of the model, and the in-band error and malformed frames
for faults inside a stream. Pure: bytes out, no sockets."""

from __future__ import annotations

import math
from collections.abc import Mapping

import orjson

from faults.catalogue import FaultKind

ANTHROPIC = "anthropic-messages"

# kind → (OpenAI type, OpenAI code, Anthropic type, message)
_ERRORS: Mapping[FaultKind, tuple[str, str | None, str, str]] = {
    FaultKind.HTTP_429: (
        "requests",
        "rate_limit_exceeded",
        "rate_limit_error",
        "Rate limit reached for requests. Please try again later.",
    ),
    FaultKind.QUOTA_429: (
        "insufficient_quota",
        "insufficient_quota",
        "rate_limit_error",
        "You exceeded your current quota (spend limit reached).",
    ),
    FaultKind.HTTP_500: (
        "server_error",
        None,
        "api_error",
        "The server had an error while processing your request.",
    ),
    FaultKind.HTTP_502: ("server_error", "bad_gateway", "api_error", "Bad gateway."),
    FaultKind.HTTP_503: (
        "server_error",
        "service_unavailable",
        "api_error",
        "The server is overloaded or not ready yet.",
    ),
    FaultKind.HTTP_504: ("server_error", "timeout", "timeout_error", "Gateway timeout."),
    FaultKind.OVERLOADED_529: ("server_error", "overloaded", "overloaded_error", "Overloaded"),
    FaultKind.HTTP_400: (
        "invalid_request_error",
        "context_length_exceeded",
        "invalid_request_error",
        "This model's maximum context length was exceeded.",
    ),
    FaultKind.HTTP_401: (
        "invalid_request_error",
        "invalid_api_key",
        "authentication_error",
        "Incorrect API key provided.",
    ),
    FaultKind.HTTP_404: (
        "invalid_request_error",
        "model_not_found",
        "not_found_error",
        "The model does not exist or you do not have access to it.",
    ),
    FaultKind.HTTP_413: (
        "invalid_request_error",
        "request_too_large",
        "request_too_large",
        "Request exceeds the maximum allowed number of bytes.",
    ),
}

_NOTE = " (injected by tokenstorm)"


def error_body(kind: FaultKind, api: str, request_id: str = "") -> bytes:
    """The provider's JSON error body for a fault that answers with an error status."""
    openai_type, code, anthropic_type, message = _ERRORS[kind]
    if api == ANTHROPIC:
        return orjson.dumps(
            {
                "type": "error",
                "request_id": request_id or None,
                "error": {"type": anthropic_type, "message": message + _NOTE},
            }
        )
    return orjson.dumps(
        {"error": {"message": message + _NOTE, "type": openai_type, "param": None, "code": code}}
    )


def error_headers(kind: FaultKind, api: str, params: Mapping[str, float]) -> dict[str, str]:
    """Headers a real provider sends with that error (retry hints, rate-limit state)."""
    headers = {"content-type": "application/json", "x-tokenstorm-fault": kind.value}
    wait_s = params.get("retry_after_s", 0.0)
    if kind in (FaultKind.HTTP_429, FaultKind.HTTP_503, FaultKind.OVERLOADED_529) and wait_s > 0:
        headers["retry-after"] = str(math.ceil(wait_s))
        headers["retry-after-ms"] = str(round(wait_s * 1000))
    if kind is FaultKind.HTTP_429:
        reset = f"{max(wait_s, 1.0):g}s"
        if api == ANTHROPIC:
            headers.update(
                {
                    "anthropic-ratelimit-requests-limit": "50",
                    "anthropic-ratelimit-requests-remaining": "0",
                    "anthropic-ratelimit-requests-reset": reset,
                }
            )
        else:
            headers.update(
                {
                    "x-ratelimit-limit-requests": "500",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": reset,
                }
            )
    if kind is FaultKind.QUOTA_429:
        headers["x-should-retry"] = "false"  # the SDKs would retry a plain 429
    return headers


def in_band_error(api: str) -> bytes:
    """An error event after HTTP 200 (an SDK raises it mid-iteration, never retried)."""
    if api == ANTHROPIC:
        body = {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded" + _NOTE},
        }
        return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
    body = {
        "error": {
            "message": "The server had an error while streaming" + _NOTE,
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def malformed_event(api: str) -> bytes:
    """A frame whose data is not valid JSON."""
    prefix = b"event: content_block_delta\n" if api == ANTHROPIC else b""
    return prefix + b'data: {"choices": [{"delta": {"content": "tru\n\n'


def split_frames(data: bytes, size: int) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes (a fragmenting proxy's writes)."""
    size = max(1, size)
    return [data[i : i + size] for i in range(0, len(data), size)]
