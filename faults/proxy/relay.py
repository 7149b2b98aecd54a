"""Relaying an upstream answer to the client through a fault: an upstream response and a fault
choice in; the client's response written, with what passed (tokens, usage) counted for the
ledger. Frames pass through byte for byte unless the fault rewrites them."""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from faults.catalogue import FaultKind
from faults.decide import FaultChoice
from faults.injection import in_band_error, split_frames
from harness.api.sse import frame_event, next_frame
from harness.api.wire_api import EventKind, WireApi

_MAX_BUFFER_BYTES = 8 * 1024 * 1024
_CONTENT = frozenset({EventKind.TEXT, EventKind.TOOL_CALL})


@dataclass(slots=True)
class Passed:
    """What went through to the client (for the ledger)."""

    content_tokens: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    model: str | None = None
    terminated: bool = False
    disconnected: bool = False
    #: Every byte of a whole answer was written (a client leaving now has all of it).
    delivered: bool = False


def _scale_usage(usage: dict[str, Any], factor: float) -> None:
    for key, value in list(usage.items()):
        if isinstance(value, int) and key.endswith("tokens"):
            usage[key] = round(value * factor)


class FrameFilter:
    """Classifies one frame, counts it, and rewrites it for usage faults."""

    def __init__(self, api: WireApi, choice: FaultChoice | None, passed: Passed) -> None:
        self.api = api
        self.kind = choice.kind if choice else None
        self.params = dict(choice.params) if choice else {}
        self.passed = passed

    def frame(self, raw: bytes) -> tuple[bytes | None, bool]:
        """(bytes to send or None to drop, whether the frame carries content)."""
        found = frame_event(raw)
        if found is None:
            return raw, False
        event, data = found
        api, passed = self.api, self.passed
        try:
            kind, _, usage, model, _, document, _ = api.decode_event(event, data)
        except ValueError:
            return raw, False  # not JSON, or not an object: passed on as it is
        if kind is EventKind.END:
            passed.terminated = True
            return raw, False
        if document is None:
            return raw, False
        content = kind in _CONTENT
        if content:
            passed.content_tokens += 1
        if passed.model is None:
            passed.model = model
        if usage is None:
            return raw, content
        api.read_usage(usage, passed)
        if self.kind is FaultKind.DROP_USAGE:
            kept = api.without_usage(document)
            return (None if kept is None else api.event_frame(event, kept)), content
        if self.kind is FaultKind.WRONG_USAGE:
            _scale_usage(usage, self.params.get("usage_factor", 2.0))
            return api.event_frame(event, document), content
        return raw, content


def reset_connection(request: web.Request) -> None:
    """Abort with a TCP RST (SO_LINGER 0), as a crashing pod or load balancer would."""
    if request.transport is not None:
        reset_transport(request.transport)


def reset_transport(transport: asyncio.Transport) -> None:
    """Abort ``transport`` with a TCP RST rather than a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


async def relay_stream(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    response: web.StreamResponse,
    api: WireApi,
    choice: FaultChoice | None,
    passed: Passed,
) -> None:
    """Forward an SSE answer frame by frame, applying a stream-phase fault."""
    frames = FrameFilter(api, choice, passed)
    kind = frames.kind
    after = int(frames.params.get("after_tokens", 0))
    drip_s = frames.params.get("itl_ms", 0.0) / 1000.0 if kind is FaultKind.SLOW_DRIP else 0.0
    piece = int(frames.params.get("fragment_bytes", 0)) if kind is FaultKind.FRAGMENT else 0
    buffer = b""
    async for chunk in upstream.content.iter_any():
        buffer += chunk
        if len(buffer) > _MAX_BUFFER_BYTES:
            raise ValueError("upstream event-stream frame larger than 8 MiB")
        while (split := next_frame(buffer)) is not None:
            raw, buffer = split
            out, content = frames.frame(raw)
            if content and drip_s:
                await asyncio.sleep(drip_s)
            if out is not None:
                for part in split_frames(out, piece) if piece else (out,):
                    await response.write(part)
                    if piece:
                        await asyncio.sleep(0.001)  # separate segments, not one coalesced write
            if content and kind is not None and passed.content_tokens >= after:
                if await _end_early(request, response, kind, api, frames.params):
                    return
    if buffer:
        await response.write(buffer)
    await response.write_eof()


async def _end_early(
    request: web.Request,
    response: web.StreamResponse,
    kind: FaultKind,
    api: WireApi,
    params: dict[str, float],
) -> bool:
    """Apply a mid-stream fault once its token count is reached; True when the stream ends."""
    if kind is FaultKind.CUT:
        await response.write_eof()
    elif kind is FaultKind.RESET:
        reset_connection(request)
    elif kind is FaultKind.STALL:
        await asyncio.sleep(params.get("stall_s", 3600.0))
        reset_connection(request)
    elif kind is FaultKind.ERROR_EVENT:
        await response.write(in_band_error(api))
        await response.write_eof()
    elif kind is FaultKind.MALFORMED_CHUNK:
        await response.write(api.malformed_event())
        await response.write_eof()
    else:
        return False
    return True
