"""The answer of ``GET /tokenstorm/ledger``, streamed: pieces of JSON lines in, a chunked
``application/x-ndjson`` body out, each piece made on a worker thread (reading a file, merging
or filtering lines is off the event loop) and written before the next is made, so a ledger of
any length is served in the memory of one piece. The fault proxy's route, and the mock's
(which sits on ``faults``)."""

from __future__ import annotations

import asyncio
from collections.abc import Generator

from aiohttp import web

NDJSON = "application/x-ndjson"


async def stream_ledger(
    request: web.Request, pieces: Generator[bytes, None, None]
) -> web.StreamResponse:
    """Send ``pieces`` as the body of a chunked answer to ``request``. A client that leaves
    ends the sending; a piece that fails to come cuts the body short (no final chunk), which
    a client sees as an incomplete answer, never as a complete shorter ledger."""
    response = web.StreamResponse(headers={"Content-Type": NDJSON})
    response.enable_chunked_encoding()
    await response.prepare(request)
    making = False  # a piece is being made on a worker thread: the generator is busy there
    try:
        while True:
            making = True
            piece = await asyncio.to_thread(next, pieces, b"")
            making = False
            if not piece:
                break
            await response.write(piece)
        await response.write_eof()
    finally:
        if not making:
            pieces.close()  # its file, if any, closed now (else once the thread lets go)
    return response
