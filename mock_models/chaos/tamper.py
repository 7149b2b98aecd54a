"""What a fault does to an answer the mock is writing: a fault kind, its parameters and the API
in; a ``Tamper`` the answer paths consult — how many tokens to generate before the answer ends
early, how it ends (cut, reset, stall, in-band error, malformed frame), how frames and whole
bodies are rewritten (usage dropped or scaled), how fast tokens drip and how small the writes
are. Streams and whole bodies, OpenAI and Anthropic alike."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from faults.catalogue import FaultKind
from faults.decide import FaultChoice
from faults.injection import in_band_error, rewrite_body, split_frames
from faults.proxy.relay import FrameFilter, Passed, reset_connection
from harness.api.sse import next_frame
from harness.api.wire_api import WireApi
from mock_models.sim.progress import Progress

#: Kinds that end an answer after ``after_tokens`` tokens.
ENDINGS = frozenset(
    {
        FaultKind.CUT,
        FaultKind.RESET,
        FaultKind.STALL,
        FaultKind.ERROR_EVENT,
        FaultKind.MALFORMED_CHUNK,
    }
)
#: Kinds that change an answer without ending it early.
SHAPERS = frozenset(
    {FaultKind.DROP_USAGE, FaultKind.WRONG_USAGE, FaultKind.SLOW_DRIP, FaultKind.FRAGMENT}
)
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Tamper:
    kind: FaultKind
    api: WireApi
    params: Mapping[str, float] = field(default_factory=dict)
    #: Tokens generated before the answer ends early (None: all of them).
    limit: int | None = None

    @classmethod
    def of(cls, choice: FaultChoice | None, api: WireApi) -> Tamper | None:
        """The tamper of a stream-phase fault (None for any other kind)."""
        if choice is None or choice.kind not in ENDINGS | SHAPERS:
            return None
        limit = int(choice.params["after_tokens"]) if choice.kind in ENDINGS else None
        return cls(choice.kind, api, dict(choice.params), limit)

    @property
    def drip_s(self) -> float:
        """Seconds between tokens a slow drip imposes (0: no drip)."""
        return self.params["itl_ms"] / 1000.0 if self.kind is FaultKind.SLOW_DRIP else 0.0

    @property
    def piece_bytes(self) -> int:
        """Largest write of a fragmented answer (0: writes as they come)."""
        return int(self.params["fragment_bytes"]) if self.kind is FaultKind.FRAGMENT else 0

    def frames(self, data: bytes) -> bytes:
        """SSE frames with the usage faults applied (the rest pass byte for byte)."""
        if self.kind not in (FaultKind.DROP_USAGE, FaultKind.WRONG_USAGE):
            return data
        frame_filter = FrameFilter(self.api, FaultChoice(self.kind, self.params), Passed())
        out: list[bytes] = []
        while (split := next_frame(data)) is not None:
            raw, data = split
            kept, _ = frame_filter.frame(raw)
            if kept is not None:
                out.append(kept)
        return b"".join(out) + data

    async def write(self, response: web.StreamResponse, data: bytes) -> None:
        """Write ``data``, in fragments when the fault says so."""
        piece = self.piece_bytes
        for part in split_frames(data, piece) if piece else (data,):
            await response.write(part)

    async def end_stream(
        self, request: web.Request, response: web.StreamResponse, progress: Progress
    ) -> None:
        """End a stream whose ``limit`` tokens are out, the way the fault says."""
        try:
            if self.kind is FaultKind.STALL:
                await asyncio.sleep(self.params["stall_s"])
                reset_connection(request)
            elif self.kind is FaultKind.RESET:
                reset_connection(request)
            else:
                if self.kind is FaultKind.ERROR_EVENT:
                    await response.write(in_band_error(self.api))
                elif self.kind is FaultKind.MALFORMED_CHUNK:
                    await response.write(self.api.malformed_event())
                await response.write_eof()
        except ConnectionError:
            progress.disconnected = True

    async def send_body(
        self, request: web.Request, body: bytes, headers: Mapping[str, str], progress: Progress
    ) -> web.StreamResponse:
        """A whole answer with the fault applied (its ``limit`` tokens already generated)."""
        kind = self.kind
        if kind is FaultKind.CUT:
            return await send_cut_body(request, body, headers, progress)
        if kind in (FaultKind.STALL, FaultKind.RESET):
            if kind is FaultKind.STALL:
                await asyncio.sleep(self.params["stall_s"])
            reset_connection(request)
            progress.status = 0
            return web.Response(status=502)
        if kind in (FaultKind.ERROR_EVENT, FaultKind.DROP_USAGE, FaultKind.WRONG_USAGE):
            body = orjson.dumps(rewrite_body(kind, self.api, orjson.loads(body), self.params))
        if kind is FaultKind.MALFORMED_CHUNK:
            body = body[: max(1, len(body) // 2)] + b"\x00}{"
        response = web.StreamResponse(status=200, headers={"content-type": _JSON, **headers})
        response.content_length = len(body)
        await response.prepare(request)
        progress.status = 200
        try:
            parts = split_frames(body, self.piece_bytes) if self.piece_bytes else [body]
            for index, part in enumerate(parts, 1):
                await response.write(part)
                if self.piece_bytes and index < len(parts):
                    await asyncio.sleep(0)  # separate writes, not one coalesced buffer
            await response.write_eof()
        except ConnectionError:
            progress.disconnected = True
        return response


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
