"""The streamed side of an answer on the wire: a flavour's ``StreamShape`` and a connection in;
token chunks written straight onto the transport (``WireSink``), and the SSE response opened
and closed around them.

Whoever paces the tokens (a deployment's engine, or the constant-latency ``Ticker``) calls
``WireSink.token`` from its own timer callback; no task wakes up per token, which is what lets
one core hold thousands of open streams.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from aiohttp import web

from mock_models.attempt import AttemptPlan
from mock_models.flavour import StreamShape
from mock_models.responder import SSE_HEADERS, Progress


class WireSink:
    """Writes each token as one chunk of the chunked response, once the opening is out.

    ``shape`` None counts tokens without writing (a JSON answer). ``done`` resolves after the
    last token or, for a cut answer, after token ``limit``; ``stop`` ends it early.
    """

    __slots__ = ("_limit", "_pending", "_shape", "_transport", "_words", "done",
                 "first_token_s", "stopped", "tokens")

    def __init__(self, shape: StreamShape | None, words: tuple[int, ...], limit: int,
                 done: asyncio.Future[None]) -> None:
        self._shape = shape
        self._words = words
        self._limit = limit
        self._transport: asyncio.Transport | None = None
        self._pending: list[bytes] = []
        self.done = done
        self.tokens = 0
        self.stopped = False
        #: ``time.monotonic()`` of the first token (for the TTFT metric).
        self.first_token_s: float | None = None

    @property
    def wants_more(self) -> bool:
        return not self.stopped and self.tokens < self._limit

    def attach(self, transport: asyncio.Transport | None) -> None:
        """Start writing to ``transport`` (tokens made before now go out first, together)."""
        self._transport = transport
        if self._pending:
            self._write(b"".join(self._pending))
            self._pending.clear()

    def _write(self, data: bytes) -> None:
        # No isinstance check: uvloop's transports do not subclass asyncio's.
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(b"%x\r\n%b\r\n" % (len(data), data))

    def token(self, count: int = 1) -> None:
        """The next ``count`` tokens are out: write them as one chunk (or hold them until
        ``attach``)."""
        if not self.wants_more:
            return
        start = self.tokens
        if start == 0:
            self.first_token_s = time.monotonic()
        end = min(start + count, self._limit)
        self.tokens = end
        shape = self._shape
        if shape is not None:
            words = self._words
            data = (shape.token(words[start]) if end == start + 1
                    else b"".join(shape.token(words[i]) for i in range(start, end)))
            if self._transport is None:
                self._pending.append(data)
            else:
                self._write(data)
        if end == self._limit:
            self.finish()

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def stop(self) -> None:
        """No more tokens (the client left, or the answer was cut)."""
        self.stopped = True
        if not self.done.done():
            self.done.cancel()


async def open_stream(request: web.Request, shape: StreamShape, headers: Mapping[str, str],
                      progress: Progress, sink: WireSink) -> web.StreamResponse:
    """Send the status line, headers and opening events; then let ``sink`` write."""
    response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    response.enable_chunked_encoding()
    await response.prepare(request)
    progress.status = 200
    await response.write(shape.opening())
    sink.attach(request.transport)
    return response


async def close_stream(response: web.StreamResponse, shape: StreamShape, plan: AttemptPlan,
                       cut: bool, progress: Progress) -> None:
    """The finish events and terminator (none for a cut stream), then the last chunk."""
    try:
        if not cut:
            await response.write(shape.closing(plan.latency.completion_tokens,
                                               plan.latency.truncated))
        await response.write_eof()
    except ConnectionError:
        progress.disconnected = True
