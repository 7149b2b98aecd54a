"""The streamed side of an answer on the wire: an API's ``StreamShape`` and a connection in;
token chunks written straight onto the transport (``WireSink``; a token on time is one
pre-framed ``StreamShape.chunk`` and one write), and the SSE response opened and closed
around them (headers with the opening events, the closing events with the last chunk).

Whoever paces the tokens (a deployment's engine, or the constant-latency ``Ticker``) calls
``WireSink.token`` from its own timer callback; no task wakes up per token, which is what lets
one core hold thousands of open streams.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

from aiohttp import web

from faults.injection import split_frames
from harness.api.rendering import StreamShape
from mock_models.chaos.tamper import Tamper
from mock_models.http.responder import SSE_HEADERS
from mock_models.sim.attempt import AttemptPlan
from mock_models.sim.progress import Progress


class WireSink:
    """Writes each token as one chunk of the chunked response, once the opening is out.

    ``shape`` None counts tokens without writing (a JSON answer). ``done`` resolves after the
    last token or, for a cut answer, after token ``limit``; ``stop`` ends it early.
    """

    __slots__ = (
        "_limit",
        "_pending",
        "_piece_bytes",
        "_shape",
        "_transport",
        "_words",
        "done",
        "first_token_s",
        "lag_base_s",
        "lag_sum_s",
        "stopped",
        "tokens",
    )

    def __init__(
        self,
        shape: StreamShape | None,
        words: Sequence[int],
        limit: int,
        done: asyncio.Future[None],
        piece_bytes: int = 0,
    ) -> None:
        self._shape = shape
        #: A fragmenting fault's largest write (0: one chunk per write).
        self._piece_bytes = piece_bytes
        self._words = words
        self._limit = limit
        self._transport: asyncio.Transport | None = None
        self._pending: list[bytes] = []
        self.done = done
        self.tokens = 0
        self.stopped = False
        #: ``time.monotonic()`` of the first token (for the TTFT metric).
        self.first_token_s: float | None = None
        #: What this answer's tokens waited for the mock itself: over its tokens, the sum of how
        #: late the batch of writes holding each began (counting only delays over
        #: ``responder.LAG_NOTED_S``). Added to by whoever paces the tokens.
        self.lag_sum_s = 0.0
        #: Where an engine's schedule moves stood when this answer came in (see ``engine``).
        self.lag_base_s = 0.0

    @property
    def lag_s(self) -> float:
        """The mean of that delay per token written (0 before the first)."""
        return self.lag_sum_s / self.tokens if self.tokens else 0.0

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
        if transport is None or transport.is_closing():
            return
        if self._piece_bytes:
            for part in split_frames(data, self._piece_bytes):
                transport.write(b"%x\r\n%b\r\n" % (len(part), part))
            return
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))

    def token(self, count: int = 1) -> None:
        """The next ``count`` tokens are out: write them (or hold them until ``attach``)."""
        self.emit(count)

    def emit(self, count: int) -> bool:
        """``token(count)``, returning whether the sink wants more after them.

        This runs once per token of every open stream, so it is kept flat: a token written
        alone is one pre-framed chunk (``StreamShape.chunk``) and one ``transport.write``.
        """
        start = self.tokens
        limit = self._limit
        if self.stopped or start >= limit:
            return False
        if start == 0:
            self.first_token_s = time.monotonic()
        end = start + count
        if end > limit:
            end = limit
        self.tokens = end
        shape = self._shape
        if shape is not None:
            transport = self._transport
            if end == start + 1 and transport is not None and not self._piece_bytes:
                if not transport.is_closing():
                    transport.write(shape.chunk(self._words[start]))
            else:
                # Late or held tokens: their events as one chunk, as a buffered writer would.
                words = self._words
                data = b"".join([shape.token(words[i]) for i in range(start, end)])
                if transport is None:
                    self._pending.append(data)
                else:
                    self._write(data)
        if end == limit:
            self.finish()
            return False
        return True

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def stop(self) -> None:
        """No more tokens (the client left, or the answer was cut)."""
        self.stopped = True
        if not self.done.done():
            self.done.cancel()


class DripSink:
    """A slow drip in front of a ``WireSink``: tokens in as the engine makes them, out no
    faster than one per ``gap_s``."""

    __slots__ = (
        "_gap_s",
        "_generated",
        "_handle",
        "_last_s",
        "_owed",
        "inner",
        "lag_base_s",
        "lag_sum_s",
    )

    def __init__(self, inner: WireSink, gap_s: float) -> None:
        self.inner = inner
        self._gap_s = gap_s
        self._owed = 0
        self._generated = 0
        self._last_s = float("-inf")
        self._handle: asyncio.TimerHandle | None = None
        #: The engine's lateness over the tokens it generated (not the drip's own pace, which
        #: is the fault); see ``WireSink.lag_sum_s``.
        self.lag_sum_s = 0.0
        self.lag_base_s = 0.0

    @property
    def lag_s(self) -> float:
        """The mean of the engine's lateness per token generated (0 before the first)."""
        return self.lag_sum_s / self._generated if self._generated else 0.0

    def token(self) -> None:
        self._generated += 1
        self._owed += 1
        self._arm()

    def finish(self) -> None:
        """Nothing: the inner sink finishes when its last token is written."""

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.inner.stop()

    def _arm(self) -> None:
        if self._handle is None and self._owed:
            delay_s = max(0.0, self._last_s + self._gap_s - time.monotonic())
            self._handle = asyncio.get_running_loop().call_later(delay_s, self._emit)

    def _emit(self) -> None:
        self._handle = None
        self._owed -= 1
        self._last_s = time.monotonic()
        self.inner.token(1)
        self._arm()


class _CoalescedResponse(web.StreamResponse):
    """A stream response whose headers leave with its first body write (the opening events):
    one send instead of two, the same bytes. Should aiohttp drop this class attribute, the
    headers simply go out on their own again."""

    _send_headers_immediately = False


async def open_stream(
    request: web.Request,
    shape: StreamShape,
    headers: Mapping[str, str],
    progress: Progress,
    sink: WireSink,
    tamper: Tamper | None = None,
) -> web.StreamResponse:
    """Send the status line, headers and opening events; then let ``sink`` write."""
    kind = web.StreamResponse if tamper is not None else _CoalescedResponse
    response = kind(status=200, headers={**SSE_HEADERS, **headers})
    response.enable_chunked_encoding()
    await response.prepare(request)
    progress.status = 200
    opening = shape.opening()
    if tamper is None:
        await response.write(opening)
    else:
        await tamper.write(response, tamper.frames(opening))
    sink.attach(request.transport)
    return response


async def close_stream(
    request: web.Request,
    response: web.StreamResponse,
    shape: StreamShape,
    plan: AttemptPlan,
    tamper: Tamper | None,
    progress: Progress,
) -> None:
    """The finish events and terminator, then the last chunk; a fault that ends the stream
    early ends it its own way instead."""
    if tamper is not None and tamper.limit is not None:
        await tamper.end_stream(request, response, progress)
        return
    try:
        closing = shape.closing(plan.latency.completion_tokens, plan.latency.truncated)
        if tamper is None:
            # The last events and the terminating chunk in one send.
            await response.write_eof(closing)
        else:
            await tamper.write(response, tamper.frames(closing))
            await response.write_eof()
    except ConnectionError:
        progress.disconnected = True
