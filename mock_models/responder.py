"""Putting one planned answer on the wire with its timing: an aiohttp request, a flavour and an
``AttemptPlan`` in; an error, an SSE stream (whole or cut) or a JSON body (whole or truncated)
out, with ``Progress`` saying how far it got for the ledger.

Sleeps are computed against absolute deadlines on the loop clock, so timer lateness does not
accumulate over a long stream; tokens already due are written together, one event each.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

from aiohttp import web

from mock_models.attempt import AttemptPlan
from mock_models.flavour import ErrorKind, Flavour, Reply

#: Status the ledger records when the client left before any status line was sent
#: (nginx's "client closed request").
CLIENT_CLOSED = 499

_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_JSON = "application/json"


class Progress:
    """How far an answer got: the status sent, the tokens generated so far, and whether the
    client went away while it was being written."""

    __slots__ = ("disconnected", "status", "tokens")

    def __init__(self) -> None:
        self.status = CLIENT_CLOSED
        self.tokens = 0
        self.disconnected = False


async def _sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    delay = deadline - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


def error_response(
    flavour: Flavour,
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
        all_headers["retry-after"] = str(math.ceil(retry_after_s))
        all_headers["retry-after-ms"] = str(round(retry_after_s * 1000))
    body = flavour.error_body(kind, message, param, all_headers.get(flavour.id_header, ""))
    return web.Response(status=status, body=body, content_type=_JSON, headers=all_headers)


async def stream_answer(
    request: web.Request,
    flavour: Flavour,
    reply: Reply,
    plan: AttemptPlan,
    headers: Mapping[str, str],
    started: float,
    progress: Progress,
    cut_after_tokens: int | None = None,
) -> web.StreamResponse:
    """Stream the planned tokens; with ``cut_after_tokens`` stop there without a terminator.

    The opening events go out with the headers at once, as real servers send them; the first
    token waits until ``started`` (loop time) + TTFT.
    """
    loop = asyncio.get_running_loop()
    latency = plan.latency
    limit = latency.completion_tokens
    if cut_after_tokens is not None:
        limit = min(limit, cut_after_tokens)
    shape = flavour.stream_shape(reply)
    response = web.StreamResponse(status=200, headers={**_SSE_HEADERS, **headers})
    response.enable_chunked_encoding()
    await response.prepare(request)
    progress.status = 200
    try:
        await response.write(shape.opening())
        gaps, words = latency.gaps_s, plan.words
        deadline = started + latency.ttft_s
        pending: list[bytes] = []
        for index in range(limit):
            if index:
                deadline += gaps[index - 1]
            if deadline > loop.time():
                if pending:
                    await response.write(b"".join(pending))
                    pending.clear()
                await _sleep_until(loop, deadline)
            pending.append(shape.token(words[index]))
            progress.tokens += 1
        if cut_after_tokens is None:
            pending.append(shape.closing(limit, latency.truncated))
        if pending:
            await response.write(b"".join(pending))
        await response.write_eof()
    except ConnectionError:
        # The client left; aiohttp finishes the dead response quietly when we return it.
        progress.disconnected = True
    return response


async def body_answer(
    request: web.Request,
    flavour: Flavour,
    reply: Reply,
    plan: AttemptPlan,
    headers: Mapping[str, str],
    started: float,
    progress: Progress,
    cut_after_tokens: int | None = None,
) -> web.StreamResponse:
    """Answer once, after the whole generation time; with ``cut_after_tokens`` send the headers
    and half of the body at the moment that token is out, then close the connection."""
    loop = asyncio.get_running_loop()
    latency = plan.latency
    limit = latency.completion_tokens
    if cut_after_tokens is not None:
        limit = min(limit, cut_after_tokens)
    try:
        await _sleep_until(loop, started + latency.total_s(limit))
    finally:
        progress.tokens = latency.tokens_by(loop.time() - started)
    body = flavour.full_body(reply, list(plan.words), latency.truncated)
    progress.tokens = limit
    if cut_after_tokens is None:
        progress.status = 200
        return web.Response(status=200, body=body, content_type=_JSON, headers=headers)
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
