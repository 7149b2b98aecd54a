"""Answering one attempt through a deployment's batching engine: an aiohttp request, a wire API,
an ``AttemptPlan`` and the engine in; a queue-full error, an SSE stream (whole or cut) or a
JSON body out, with ``Progress`` saying how far it got for the ledger.

Streamed tokens are written by the engine's step loop straight onto the connection, one HTTP
chunk per token, through a ``WireSink``; the handler only waits for the sequence to end. When the
client leaves, the sequence is aborted (its slot freed) or, with ``on_disconnect = "finish"``,
left to finish, the ledger line then being written when it does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping

from aiohttp import web

from harness.api.errors import ErrorKind
from harness.api.rendering import Reply
from harness.api.requests import ParsedRequest
from harness.api.wire_api import WireApi
from mock_models.chaos.tamper import Tamper
from mock_models.http.responder import error_response
from mock_models.http.wire import DripSink, WireSink, close_stream, open_stream
from mock_models.sim.attempt import AttemptPlan
from mock_models.sim.engine import DeploymentEngine
from mock_models.sim.explicit_cache import CacheUse
from mock_models.sim.prefix_cache import block_hashes
from mock_models.sim.progress import Progress

_QUEUE_FULL = "The server is busy: the waiting requests queue is full. Please retry later."


async def engine_answer(
    request: web.Request,
    api: WireApi,
    reply: Reply,
    plan: AttemptPlan,
    headers: Mapping[str, str],
    progress: Progress,
    engine: DeploymentEngine,
    parsed: ParsedRequest,
    tamper: Tamper | None = None,
) -> web.StreamResponse:
    """Queue the attempt in ``engine`` and answer as its tokens come out; prompt blocks
    found in the deployment's prefix cache are not prefilled and are reported as cached."""
    settings = engine.settings
    if settings.api_overhead_ms > 0:
        await asyncio.sleep(settings.api_overhead_ms / 1000.0)
    cache = engine.prefix_cache
    written = written_1h = 0
    explicit_use: CacheUse | None = None
    if parsed.cache_breakpoints is not None:
        hashes: list[bytes] = []
        explicit_use = cache.explicit.lookup(
            parsed.prompt_pieces, parsed.cache_breakpoints, time.monotonic()
        )
        cached_tokens, written, written_1h = (
            explicit_use.read_tokens,
            explicit_use.written_tokens,
            explicit_use.written_1h_tokens,
        )
    else:
        hashes = (
            block_hashes(parsed.prompt_pieces, cache.block_size_tokens)
            if cache.capacity_blocks
            else []
        )
        cached_tokens = cache.cached_tokens(hashes, parsed.prompt_tokens) if hashes else 0
    stream = parsed.stream
    reply = dataclasses.replace(
        reply,
        cached_tokens=cached_tokens,
        cache_write_tokens=written,
        cache_write_1h_tokens=written_1h,
    )
    completion_tokens = plan.latency.completion_tokens
    cut_after = tamper.limit if tamper is not None else None
    limit = completion_tokens if cut_after is None else min(completion_tokens, cut_after)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    shape = api.stream_shape(reply) if stream else None
    sink = WireSink(shape, plan.words, limit, done, tamper.piece_bytes if tamper is not None else 0)
    drip = DripSink(sink, tamper.drip_s) if tamper is not None and tamper.drip_s else None
    seq = engine.submit(
        drip or sink, parsed.prompt_tokens - cached_tokens, completion_tokens, cached_tokens
    )
    if seq is None:
        status = settings.queue_full_status
        progress.status = status
        kind = ErrorKind.RATE_LIMIT if status == 429 else ErrorKind.OVERLOADED
        return error_response(api, status, kind, _QUEUE_FULL, headers)
    if hashes:
        cache.remember(hashes)
    elif explicit_use is not None:
        cache.explicit.commit(explicit_use, time.monotonic())
    progress.cached_tokens, progress.cache_write_tokens = cached_tokens, written
    response: web.StreamResponse | None = None
    try:
        if shape is not None:
            response = await open_stream(request, shape, headers, progress, sink, tamper)
        if limit > 0:
            # Shielded: cancelling the handler must not cancel the sequence's own future.
            await asyncio.shield(done)
    except asyncio.CancelledError:
        progress.tokens = sink.tokens
        if settings.on_disconnect == "abort" or done.done():
            (drip or sink).stop()
            engine.abort(seq)
        else:
            # The provider would go on generating and billing: the ledger waits for the end.
            progress.settled = done
            done.add_done_callback(lambda _: _settle(progress, sink, drip))
        raise
    finally:
        progress.tokens = sink.tokens
        progress.first_token_s = sink.first_token_s
        progress.lag_s = (drip or sink).lag_s
    if limit < completion_tokens:
        engine.abort(seq)  # a cut: the connection ends here, so does the generation
    if response is None:
        body = api.full_body(reply, list(plan.words[:completion_tokens]), plan.latency.truncated)
        if tamper is not None:
            return await tamper.send_body(request, body, headers, progress)
        progress.status = 200
        return web.Response(status=200, body=body, content_type="application/json", headers=headers)
    assert shape is not None
    await close_stream(request, response, shape, plan, tamper, progress)
    return response


def _settle(progress: Progress, sink: WireSink, drip: DripSink | None) -> None:
    """What a sequence generated after its client left, for the ledger line that waited."""
    progress.tokens = sink.tokens
    progress.lag_s = (drip or sink).lag_s
