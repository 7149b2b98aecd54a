"""Errors on the wire, common to every API: error kinds (each API spells them), the refusal
a parser raises, and retry headers: a wait in, ``retry-after``/``-ms`` out; headers in, the
wait and ``x-should-retry`` verdict out."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Final

import orjson

SHOULD_RETRY_HEADER: Final = "x-should-retry"


class ErrorKind(StrEnum):
    """The errors an answer can carry, each API mapping them to its own type and code."""

    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    SERVER_ERROR = "server_error"
    BAD_GATEWAY = "bad_gateway"
    UNAVAILABLE = "unavailable"
    GATEWAY_TIMEOUT = "gateway_timeout"
    OVERLOADED = "overloaded"
    #: Anthropic's 529, which OpenAI-shaped bodies give the code ``overloaded``.
    OVERLOADED_529 = "overloaded_529"
    CONTEXT_LENGTH = "context_length"
    AUTHENTICATION = "authentication"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    TOO_LARGE = "too_large"


class RequestError(Exception):
    """A request refused (400/404/413), with the provider-style message."""

    def __init__(self, status: int, kind: ErrorKind, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.param = param


def retry_headers(wait_s: float) -> dict[str, str]:
    """The headers asking a client to wait ``wait_s``: seconds rounded up, and milliseconds."""
    return {"retry-after": str(math.ceil(wait_s)), "retry-after-ms": str(round(wait_s * 1000))}


def retry_after_s(headers: Mapping[str, str], now_wall_s: float) -> float | None:
    """Server-requested delay: ``retry-after-ms`` first, then ``retry-after`` (seconds, or an
    HTTP date compared with ``now_wall_s``, the Unix time now); None when there is none."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - now_wall_s)


def should_retry(headers: Mapping[str, str]) -> bool | None:
    """The server's ``x-should-retry`` verdict (the Stainless SDKs obey it); None when absent
    or neither true nor false."""
    verdict = headers.get(SHOULD_RETRY_HEADER, "").strip().lower()
    return {"true": True, "false": False}.get(verdict)


def short(value: object, limit: int = 200) -> str:
    """``value`` (a string, or JSON-able) as at most ``limit`` characters, for an error detail."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"
