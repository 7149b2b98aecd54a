"""Error and JSON answers with their timing: an aiohttp request, a wire API and an
``AttemptPlan`` in; a provider error or a JSON body (whole or truncated) out, with ``Progress``
saying how far the attempt got for the ledger. Streams are in ``wire`` and ``constant_stream``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from harness.api.errors import ErrorKind, RequestError, retry_headers
from harness.api.rendering import Reply
from harness.api.requests import check_content_type
from harness.api.wire_api import WireApi
from mock_models.attempt import AttemptPlan
from mock_models.clock import sleep_until

if TYPE_CHECKING:
    from mock_models.tamper import Tamper

#: Status the ledger records when the client left before any status line was sent
#: (nginx's "client closed request").
CLIENT_CLOSED = 499

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_JSON = "application/json"


#: Lateness the mock notes (``Progress.lag_s``, ``WireSink.lag_sum_s``): a batch of token writes
#: (a ticker slot, an engine step) or an answer begun more than this after it was due. The
#: loop's timers are millisecond-grained and the ticker's slots a millisecond wide, so up to
#: two milliseconds is their design, not a delay.
LAG_NOTED_S = 0.002


class Progress:
    """How far an answer got: the status sent, the tokens generated so far, and whether the
    client went away while it was being written."""

    __slots__ = (
        "cache_write_tokens",
        "cached_tokens",
        "disconnected",
        "first_token_s",
        "lag_s",
        "settled",
        "status",
        "tokens",
    )

    def __init__(self) -> None:
        self.status = CLIENT_CLOSED
        self.tokens = 0
        self.cached_tokens = 0
        self.cache_write_tokens = 0
        self.disconnected = False
        self.first_token_s: float | None = None
        #: What the answer's tokens waited for the mock itself, on average per token
        #: (``WireSink.lag_s``; a body sent at once: how late it went out).
        self.lag_s = 0.0
        #: Set when generation goes on after the handler returned (a client that left a
        #: deployment whose engine finishes such sequences): the ledger line waits for it.
        self.settled: asyncio.Future[None] | None = None


async def read_json_body(request: web.Request, max_bytes: int) -> bytes:
    """The request's body, or a ``RequestError``: 400 when it is not declared JSON, 413 when
    it is larger than ``max_bytes`` (the application's ``client_max_size``)."""
    check_content_type(request.content_type)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(
            413, ErrorKind.INVALID_REQUEST, f"Request body exceeds {max_bytes} bytes."
        ) from None


def error_response(
    api: WireApi,
    status: int,
    kind: ErrorKind,
    message: str,
    headers: Mapping[str, str],
    param: str | None = None,
    retry_after_s: float | None = None,
) -> web.Response:
    """A provider-style error answer; 429s carry ``retry-after`` (s, rounded up) and ``-ms``."""
    all_headers = dict(headers)
    if retry_after_s is not None:
        all_headers.update(retry_headers(retry_after_s))
    body = api.error_body(kind, message, param, all_headers.get(api.id_header, ""))
    return web.Response(status=status, body=body, content_type=_JSON, headers=all_headers)


async def body_answer(
    request: web.Request,
    api: WireApi,
    reply: Reply,
    plan: AttemptPlan,
    headers: Mapping[str, str],
    started: float,
    progress: Progress,
    tamper: Tamper | None = None,
) -> web.StreamResponse:
    """Answer once, after the whole generation time from ``started`` (``time.monotonic()``);
    a ``tamper`` that ends answers early acts once its token is out (a cut sends the headers
    and half of the body, then closes the connection)."""
    latency = plan.latency
    limit = latency.completion_tokens
    if tamper is not None and tamper.limit is not None:
        limit = min(limit, tamper.limit)
    due_s = started + latency.total_s(limit)
    try:
        await sleep_until(due_s)
    finally:
        now_s = time.monotonic()
        progress.tokens = latency.tokens_by(now_s - started)
    if now_s - due_s > LAG_NOTED_S:
        progress.lag_s = now_s - due_s
    body = api.full_body(reply, list(plan.words), latency.truncated)
    progress.tokens = limit
    if tamper is None:
        progress.status = 200
        return web.Response(status=200, body=body, content_type=_JSON, headers=headers)
    return await tamper.send_body(request, body, headers, progress)


async def send_cut_body(
    request: web.Request, body: bytes, headers: Mapping[str, str], progress: Progress
) -> web.StreamResponse:
    """Announce ``body``'s full length, send half of it and hang up (a cut JSON answer)."""
    # The full length is announced and only half sent; force_close makes the server hang up
    # after it, so the client sees a truncated body, not a hang.
    response = web.StreamResponse(status=200, headers={"content-type": _JSON, **headers})
    response.content_length = len(body)
    response.force_close()
    await response.prepare(request)
    progress.status = 200
    try:
        await response.write(body[: len(body) // 2])
    except ConnectionError:
        progress.disconnected = True
    return response
