"""A streamed answer of a constant-latency deployment: an aiohttp request, a wire API and an
``AttemptPlan`` in; an SSE stream (whole or cut) out, its tokens paced by the server's
``Ticker`` at the plan's exact TTFT and gaps, with ``Progress`` for the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from harness.api.rendering import Reply
from harness.api.wire_api import WireApi
from mock_models.chaos.tamper import Tamper
from mock_models.http.wire import WireSink, close_stream, open_stream
from mock_models.sim.attempt import AttemptPlan
from mock_models.sim.progress import Progress
from mock_models.sim.ticker import Ticker


async def constant_stream_answer(
    request: web.Request,
    api: WireApi,
    reply: Reply,
    plan: AttemptPlan,
    headers: Mapping[str, str],
    started: float,
    progress: Progress,
    ticker: Ticker,
    tamper: Tamper | None = None,
) -> web.StreamResponse:
    """Stream the planned tokens; a ``tamper`` may end the stream early or reshape it.

    The opening events go out with the headers at once, as real servers send them; the first
    token is due at ``started`` (``time.monotonic()``) + TTFT.
    """
    latency = plan.latency
    limit = latency.completion_tokens
    if tamper is not None and tamper.limit is not None:
        limit = min(limit, tamper.limit)
    shape = api.stream_shape(reply)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sink = WireSink(shape, plan.words, limit, done, tamper.piece_bytes if tamper is not None else 0)
    try:
        response = await open_stream(request, shape, headers, progress, sink, tamper)
        if limit > 0:
            ticker.pace(sink, started + latency.ttft_s, latency.gaps_s)
            # Not shielded (a shield costs a future and two callbacks per request): a handler
            # cancelled here cancels ``done`` too, which nothing else awaits, and the finally
            # below stops the sink so the ticker drops it at its next deadline.
            await done
    finally:
        sink.stopped = True
        progress.tokens = sink.tokens
        progress.first_token_s = sink.first_token_s
        progress.lag_s = sink.lag_s
    await close_stream(request, response, shape, plan, tamper, progress)
    return response
