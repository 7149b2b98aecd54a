"""Error and JSON answers with their timing: an aiohttp request, a wire API and an
``AttemptPlan`` in; a provider error or a JSON body (whole or truncated) out, with ``Progress``
saying how far the attempt got for the ledger. Streams are in ``wire`` and ``constant_stream``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from harness.api.errors import ErrorKind, RequestError, retry_headers
from harness.api.rendering import Reply
from harness.api.requests import check_content_type
from harness.api.wire_api import WireApi
from mock_models.sim.attempt import AttemptPlan
from mock_models.sim.clock import LAG_NOTED_S, sleep_until
from mock_models.sim.progress import Progress

if TYPE_CHECKING:
    from mock_models.chaos.tamper import Tamper


SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_JSON = "application/json"


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
