"""What OpenAI's endpoints share on the wire: bearer credentials, ``{"error": ...}``
bodies and events, usage objects (``usage_of`` out, ``read_usage`` in), rate-limit headers,
and chat's and completions' generation options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from harness.api.errors import ErrorKind, RequestError, short
from harness.api.rendering import Reply
from harness.api.requests import parse_stop, positive_int
from harness.api.sse import data_frame
from harness.api.wire_api import TokenCounts

FINGERPRINT: Final = "fp_tokenstorm"
DONE: Final = data_frame(b"[DONE]")
#: What OpenAI says when the model is missing.
NO_MODEL: Final = "You must provide a model parameter."

#: (type, code) of each error kind, as OpenAI spells them.
ERRORS: Final[Mapping[ErrorKind, tuple[str, str | None]]] = {
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.NOT_FOUND: ("invalid_request_error", "model_not_found"),
    ErrorKind.RATE_LIMIT: ("requests", "rate_limit_exceeded"),
    ErrorKind.QUOTA: ("insufficient_quota", "insufficient_quota"),
    ErrorKind.SERVER_ERROR: ("server_error", None),
    ErrorKind.BAD_GATEWAY: ("server_error", "bad_gateway"),
    ErrorKind.UNAVAILABLE: ("server_error", "service_unavailable"),
    ErrorKind.GATEWAY_TIMEOUT: ("server_error", "timeout"),
    ErrorKind.OVERLOADED: ("server_error", None),
    ErrorKind.OVERLOADED_529: ("server_error", "overloaded"),
    ErrorKind.CONTEXT_LENGTH: ("invalid_request_error", "context_length_exceeded"),
    ErrorKind.AUTHENTICATION: ("invalid_request_error", "invalid_api_key"),
    ErrorKind.UNSUPPORTED_CONTENT_TYPE: ("invalid_request_error", "unsupported_content_type"),
    ErrorKind.TOO_LARGE: ("invalid_request_error", "request_too_large"),
}


def usage_of(reply: Reply, completion_tokens: int) -> dict[str, Any]:
    """The usage object of an answer of ``completion_tokens`` tokens."""
    prompt_tokens = reply.prompt_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


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


class OpenAIWire:
    """The parts of ``WireApi`` every OpenAI endpoint spells the same way."""

    id_header: Final = "x-request-id"

    def request_headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def read_usage(self, usage: Mapping[str, Any], into: TokenCounts) -> None:
        into.prompt_tokens = usage.get("prompt_tokens", into.prompt_tokens)
        into.completion_tokens = usage.get("completion_tokens", into.completion_tokens)
        details = usage.get("prompt_tokens_details")
        into.cached_tokens = details.get("cached_tokens", 0) if isinstance(details, dict) else 0

    def error_message(self, document: Any) -> str | None:
        if isinstance(document, dict) and isinstance(document.get("error"), dict):
            return short(document["error"].get("message") or document["error"])
        return None

    def error_document(self, kind: ErrorKind, message: str) -> dict[str, Any]:
        return _error(kind, message, None)

    def error_body(
        self, kind: ErrorKind, message: str, param: str | None, request_id: str | None
    ) -> bytes:
        return orjson.dumps(_error(kind, message, param))

    def error_event(self, kind: ErrorKind, message: str) -> bytes:
        return data_frame(orjson.dumps(_error(kind, message, None)))

    def malformed_event(self) -> bytes:
        return b'data: {"choices": [{"delta": {"content": "tru\n\n'

    def rate_limit_headers(self, reset: str) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": reset,
        }

    def event_frame(self, event: str, document: dict[str, Any]) -> bytes:
        return data_frame(orjson.dumps(document))

    def without_usage(self, document: dict[str, Any]) -> dict[str, Any] | None:
        if not document.get("choices"):
            return None  # the usage-only chunk
        document["usage"] = None
        return document


def _error(kind: ErrorKind, message: str, param: str | None) -> dict[str, Any]:
    error_type, code = ERRORS[kind]
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def usage_object(document: dict[str, Any]) -> dict[str, Any] | None:
    """The usage object a chunk or body carries (None when absent, null or empty)."""
    usage = document.get("usage")
    return usage if isinstance(usage, dict) and usage else None
